"""transcribe_sdk.files: every input shape becomes one AudioFile, or an InvalidFileError."""

from __future__ import annotations

import array
import contextlib
import gc
import io
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from internals import content_type_for, extension_of, sniff_extension

from transcribe_sdk import files
from transcribe_sdk.errors import InvalidFileError, TranscribeError
from transcribe_sdk.files import AudioFile, prepare_file, spool

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/x-m4a",
    "webm": "audio/webm",
}
ALL_FIXTURES = [
    *(f"hello.{ext}" for ext in FORMATS),
    "numbers.wav",
    "silence.wav",
    "long_speech.wav",
]
WAV = (FIXTURES / "hello.wav").read_bytes()
OGG = (FIXTURES / "hello.ogg").read_bytes()
MP3 = (FIXTURES / "hello.mp3").read_bytes()
UNKNOWN = b"this is plain text, not audio at all; " * 4
HAS_PROC_FDS = os.path.isdir("/proc/self/fd")
needs_proc_fds = pytest.mark.skipif(not HAS_PROC_FDS, reason="counts /proc/self/fd")
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


def read_all(reader: Any, size: int = 65536) -> bytes:
    parts = []
    for _ in range(100_000):
        chunk = reader.read(size)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
    raise AssertionError("the reader never reached its end")


def read_back(audio: AudioFile) -> bytes:
    with audio.open() as reader:
        return read_all(reader)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def invalid(call: Callable[[], object], *fragments: str) -> InvalidFileError:
    """Run ``call``, expect an InvalidFileError whose message holds every fragment."""
    with pytest.raises(InvalidFileError) as info:
        call()
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, TypeError)
    assert isinstance(exc, TranscribeError)
    assert exc.param == "file"
    assert str(exc).startswith("file: ")
    for fragment in fragments:
        assert fragment in str(exc), (fragment, str(exc))
    return exc


class OnlyRead:
    """A one-way stream with nothing but ``read``, handing out short chunks like a socket."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self._data = data
        self._chunk = chunk
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        n = self._chunk if size < 0 else min(size, self._chunk)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as exit_stack:
        yield exit_stack


def pipe_of(data: bytes, stack: contextlib.ExitStack) -> IO[bytes]:
    """The read end of a pipe already holding ``data`` (which must fit the pipe buffer)."""
    read_fd, write_fd = os.pipe()
    with open(write_fd, "wb") as sink:
        sink.write(data)
    return stack.enter_context(open(read_fd, "rb"))


def open_in(stack: contextlib.ExitStack, path: Path) -> IO[bytes]:
    return stack.enter_context(open(path, "rb"))


@dataclass
class Feed:
    errors: list[BaseException] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def fifo_writer(path: Path, data: bytes) -> Iterator[Feed]:
    """A named pipe at ``path`` that a thread fills with ``data`` once a reader opens it."""
    os.mkfifo(path)
    feed = Feed()

    def write() -> None:
        try:
            with open(path, "wb") as sink:
                sink.write(data)
        except OSError as exc:  # the reader went away early; the test sees it in `errors`
            feed.errors.append(exc)
        finally:
            feed.finished.set()

    def unblock() -> None:
        # Whoever still waits in open() on the pipe is let through (and then sees its end), so
        # a bug makes the test fail rather than hang.
        for flags in (os.O_RDONLY, os.O_WRONLY):
            with contextlib.suppress(OSError):
                os.close(os.open(path, flags | os.O_NONBLOCK))

    thread = threading.Thread(target=write, daemon=True)
    watchdog = threading.Timer(3.0, unblock)
    thread.start()
    watchdog.start()
    try:
        yield feed
    finally:
        watchdog.cancel()
        if thread.is_alive():
            unblock()
        thread.join(timeout=5)
        assert not thread.is_alive()


# --- every input shape --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_str_path_every_fixture(name: str) -> None:
    path = FIXTURES / name
    audio = prepare_file(str(path))
    assert audio.filename == name
    assert audio.content_type == FORMATS[name.rsplit(".", 1)[1]]
    assert audio.size == path.stat().st_size
    assert audio.replayable is True
    assert read_back(audio) == path.read_bytes()


def test_pathlib_path() -> None:
    path = FIXTURES / "hello.flac"
    audio = prepare_file(path)
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        "hello.flac",
        "audio/flac",
        len(path.read_bytes()),
        True,
    )
    assert read_back(audio) == path.read_bytes()


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_raw_bytes(kind: Callable[[bytes], Any]) -> None:
    audio = prepare_file(kind(WAV))
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        "audio.wav",
        "audio/wav",
        len(WAV),
        True,
    )
    assert read_back(audio) == WAV
    assert read_back(audio) == WAV


def test_memoryview_of_wide_items_counts_bytes() -> None:
    samples = array.array("h", WAV[: len(WAV) // 2 * 2])
    audio = prepare_file(memoryview(samples))
    assert audio.size == len(samples) * samples.itemsize
    assert read_back(audio) == samples.tobytes()


def test_strided_memoryview_is_copied_not_refused() -> None:
    doubled = bytes(b for byte in OGG for b in (byte, 0))
    view = memoryview(doubled)[::2]
    audio = prepare_file(view)
    assert (audio.filename, audio.size) == ("audio.ogg", len(OGG))
    assert read_back(audio) == OGG


def test_memory_reader_honours_sizes() -> None:
    audio = prepare_file(OGG)
    with audio.open() as reader:
        assert reader.read(10) == OGG[:10]
        assert reader.read(0) == b""
        assert reader.read() == OGG[10:]
        assert reader.read(5) == b""


def test_unnamed_bytesio() -> None:
    buffer = io.BytesIO(OGG)
    audio = prepare_file(buffer)
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        "audio.ogg",
        "audio/ogg",
        len(OGG),
        True,
    )
    assert read_back(audio) == OGG
    assert read_back(audio) == OGG
    assert not buffer.closed


def test_named_bytesio() -> None:
    buffer = io.BytesIO(WAV)
    buffer.name = "/some/where/meeting.wav"
    audio = prepare_file(buffer)
    assert (audio.filename, audio.content_type, audio.size) == (
        "meeting.wav",
        "audio/wav",
        len(WAV),
    )
    assert read_back(audio) == WAV


def test_real_file_object_is_rewound_and_left_open() -> None:
    path = FIXTURES / "hello.m4a"
    with open(path, "rb") as handle:
        audio = prepare_file(handle)
        assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
            "hello.m4a",
            "audio/x-m4a",
            path.stat().st_size,
            True,
        )
        assert handle.tell() == 0
        assert read_back(audio) == path.read_bytes()
        assert not handle.closed
        assert handle.tell() == path.stat().st_size
        assert read_back(audio) == path.read_bytes()
        assert not handle.closed


def test_file_positioned_mid_way_uploads_the_rest() -> None:
    path = FIXTURES / "hello.wav"
    with open(path, "rb") as handle:
        handle.seek(1000)
        audio = prepare_file(handle)
        assert handle.tell() == 1000  # sniffing put the position back
        assert audio.size == len(WAV) - 1000
        assert audio.filename == "hello.wav"
        assert read_back(audio) == WAV[1000:]
        assert read_back(audio) == WAV[1000:]  # rewound to where it started, not to 0


def test_unnamed_buffer_mid_way_is_sniffed_at_its_position() -> None:
    buffer = io.BytesIO(b"JUNK" + MP3)
    buffer.seek(4)
    audio = prepare_file(buffer)
    assert (audio.filename, audio.content_type, audio.size) == ("audio.mp3", "audio/mpeg", len(MP3))
    assert read_back(audio) == MP3


def test_os_pipe_is_one_shot(stack: contextlib.ExitStack) -> None:
    handle = pipe_of(MP3, stack)
    audio = prepare_file(handle)
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        "audio.mp3",
        "audio/mpeg",
        None,
        False,
    )
    assert read_back(audio) == MP3
    assert not handle.closed
    invalid(audio.open().__enter__, "already sent once", "cannot be rewound")


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 20])
def test_read_only_stream(chunk: int) -> None:
    audio = prepare_file(OnlyRead(OGG, chunk))
    assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
        "audio.ogg",
        "audio/ogg",
        None,
        False,
    )
    with audio.open() as reader:
        assert reader.read(3) == OGG[:3]  # part of the sniffed prefix
        assert read_all(reader) == OGG[3:]


def test_read_only_stream_read_minus_one() -> None:
    audio = prepare_file(OnlyRead(WAV, 100))
    with audio.open() as reader:
        assert read_all(reader, -1) == WAV


# The same hello.ogg bytes in every form a user may hand over, for the tuple tests.
CONTENT_KINDS: dict[str, Callable[[contextlib.ExitStack], Any]] = {
    "str": lambda _: str(FIXTURES / "hello.ogg"),
    "path": lambda _: FIXTURES / "hello.ogg",
    "bytes": lambda _: OGG,
    "bytearray": lambda _: bytearray(OGG),
    "memoryview": lambda _: memoryview(OGG),
    "bytesio": lambda _: io.BytesIO(OGG),
    "file": lambda stack: open_in(stack, FIXTURES / "hello.ogg"),
    "pipe": lambda stack: pipe_of(OGG, stack),
    "stream": lambda _: OnlyRead(OGG),
}
ONE_SHOT = {"pipe", "stream"}
NAME_WITHOUT_TUPLE_NAME = {"str": "hello.ogg", "path": "hello.ogg", "file": "hello.ogg"}


@pytest.mark.parametrize("kind", sorted(CONTENT_KINDS))
def test_two_tuple(kind: str, stack: contextlib.ExitStack) -> None:
    audio = prepare_file(("my talk.ogg", CONTENT_KINDS[kind](stack)))
    assert audio.filename == "my talk.ogg"
    assert audio.content_type == "audio/ogg"
    assert audio.size == (None if kind in ONE_SHOT else len(OGG))
    assert audio.replayable is (kind not in ONE_SHOT)
    assert read_back(audio) == OGG


@pytest.mark.parametrize("kind", sorted(CONTENT_KINDS))
def test_three_tuple_content_type_wins(kind: str, stack: contextlib.ExitStack) -> None:
    audio = prepare_file(("my talk.ogg", CONTENT_KINDS[kind](stack), "audio/ogg; codecs=opus"))
    assert (audio.filename, audio.content_type) == ("my talk.ogg", "audio/ogg; codecs=opus")
    assert read_back(audio) == OGG


@pytest.mark.parametrize("kind", sorted(CONTENT_KINDS))
@pytest.mark.parametrize("filename", [None, ""])
def test_tuple_without_filename(
    kind: str, filename: str | None, stack: contextlib.ExitStack
) -> None:
    audio = prepare_file((filename, CONTENT_KINDS[kind](stack), None))
    assert audio.filename == NAME_WITHOUT_TUPLE_NAME.get(kind, "audio.ogg")
    assert audio.content_type == "audio/ogg"
    assert read_back(audio) == OGG


def test_tuple_name_overrides_the_file_objects_name() -> None:
    buffer = io.BytesIO(OGG)
    buffer.name = "inner.ogg"
    assert prepare_file(("outer.ogg", buffer)).filename == "outer.ogg"
    assert prepare_file((None, buffer)).filename == "inner.ogg"


def test_odd_object_names_are_not_used() -> None:
    buffer = io.BytesIO(OGG)
    buffer.name = "<stdin>"
    assert prepare_file(buffer).filename == "audio.ogg"
    buffer.name = b"/tmp/bytes-name.ogg"
    assert prepare_file(buffer).filename == "bytes-name.ogg"


# --- name and type detection --------------------------------------------------------------------


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_renamed_without_extension_is_sniffed(ext: str, tmp_path: Path) -> None:
    data = (FIXTURES / f"hello.{ext}").read_bytes()
    renamed = tmp_path / "recording"
    renamed.write_bytes(data)
    audio = prepare_file(renamed)
    assert (audio.filename, audio.content_type, audio.size) == (
        f"recording.{ext}",
        FORMATS[ext],
        len(data),
    )
    assert read_back(audio) == data


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_unnamed_bytes_are_sniffed(ext: str) -> None:
    data = (FIXTURES / f"hello.{ext}").read_bytes()
    audio = prepare_file(data)
    assert (audio.filename, audio.content_type) == (f"audio.{ext}", FORMATS[ext])


def test_unknown_extension_gets_the_real_one_appended(tmp_path: Path) -> None:
    path = tmp_path / "take.v2"
    path.write_bytes(WAV)
    assert prepare_file(path).filename == "take.v2.wav"
    audio = prepare_file(("notes.txt", (FIXTURES / "hello.flac").read_bytes()))
    assert (audio.filename, audio.content_type) == ("notes.txt.flac", "audio/flac")


def test_known_extension_is_trusted_over_the_bytes() -> None:
    audio = prepare_file(("talk.mp3", WAV))
    assert (audio.filename, audio.content_type) == ("talk.mp3", "audio/mpeg")
    assert prepare_file(("TALK.MP3", UNKNOWN)).content_type == "audio/mpeg"


def test_explicit_content_type_wins_and_is_trimmed() -> None:
    assert prepare_file(("talk.mp3", WAV, "audio/x-custom")).content_type == "audio/x-custom"
    assert prepare_file((None, WAV, " audio/vnd.wave ")).content_type == "audio/vnd.wave"
    audio = prepare_file(("blob", UNKNOWN, "audio/wav"))
    assert (audio.filename, audio.content_type) == ("blob", "audio/wav")


def test_unknown_bytes_without_a_name_are_refused() -> None:
    exc = invalid(lambda: prepare_file(UNKNOWN), "cannot tell the audio format of the data")
    assert "(filename, content, content_type)" in str(exc)
    invalid(lambda: prepare_file(("blob", UNKNOWN)), "'blob'", "(filename, content")
    invalid(lambda: prepare_file(io.BytesIO(UNKNOWN)), "(filename, content, content_type)")


def test_mp3_without_id3_tag_is_found_by_frame_sync() -> None:
    assert MP3[:3] == b"ID3"
    tag_size = 10 + sum(byte << (7 * (3 - i)) for i, byte in enumerate(MP3[6:10]))
    bare = MP3[tag_size:]
    assert bare[0] == 0xFF
    audio = prepare_file(bare)
    assert (audio.filename, audio.content_type) == ("audio.mp3", "audio/mpeg")


def test_mp4_brand_is_mp4_not_m4a() -> None:
    m4a = (FIXTURES / "hello.m4a").read_bytes()
    assert m4a[8:12] == b"M4A "
    audio = prepare_file(m4a[:8] + b"isom" + m4a[12:])
    assert (audio.filename, audio.content_type) == ("audio.mp4", "audio/mp4")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (WAV[:64], "wav"),
        (MP3[:64], "mp3"),
        (b"\xff\xfb\x90\x64" + bytes(60), "mp3"),
        (b"\xff\xf3\x58\xc0", "mp3"),
        ((FIXTURES / "hello.flac").read_bytes()[:64], "flac"),
        (OGG[:64], "ogg"),
        ((FIXTURES / "hello.m4a").read_bytes()[:64], "m4a"),
        (b"\x00\x00\x00\x20ftypM4B \x00\x00\x00\x00", "m4a"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "mp4"),
        ((FIXTURES / "hello.webm").read_bytes()[:64], "webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska", "mkv"),
        (b"FORM\x00\x00\x00\x10AIFF", "aiff"),
        (b"FORM\x00\x00\x00\x10AIFC", "aiff"),
        (b"#!AMR\n", "amr"),
        (b"\xff\xf1\x50\x80", "aac"),
        (b"", None),
        (b"R", None),
        (b"RIFF\x00\x00\x00\x00AVI ", None),
        (b"\xff", None),
        (b"\xff\x00", None),
        (b"\x00\x00\x00\x00", None),
        (UNKNOWN[:64], None),
    ],
)
def test_sniff_extension(head: bytes, expected: str | None) -> None:
    assert sniff_extension(head) == expected


@pytest.mark.parametrize(
    ("filename", "ext"),
    [
        ("a.WAV", "wav"),
        ("dir.d/file", ""),
        ("C:\\music\\song.Mp3", "mp3"),
        (".hidden", ""),
        ("archive.tar.flac", "flac"),
        ("noext", ""),
        ("trailing.", ""),
    ],
)
def test_extension_of(filename: str, ext: str) -> None:
    assert extension_of(filename) == ext


def test_content_type_for() -> None:
    assert content_type_for("x.opus") == "audio/ogg"
    assert content_type_for("x.M4A") == "audio/x-m4a"
    assert content_type_for("x") is None
    assert content_type_for("x.txt") is None  # known to mimetypes, but not audio
    assert content_type_for("x.definitely-not-a-type") is None
    guessed = content_type_for("x.au")  # from the mimetypes table, not ours
    assert guessed is not None
    assert guessed.startswith("audio/")


# --- errors before anything is sent -------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    invalid(lambda: prepare_file(missing), "no such file", repr(str(missing)))
    invalid(lambda: prepare_file(str(missing)), "no such file")


def test_directory(tmp_path: Path) -> None:
    invalid(lambda: prepare_file(tmp_path), "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    invalid(lambda: prepare_file(empty), "empty", "0 bytes")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    locked = tmp_path / "locked.wav"
    locked.write_bytes(WAV)
    locked.chmod(0)
    invalid(lambda: prepare_file(locked), "cannot read")


@pytest.mark.parametrize("empty", [b"", bytearray(), memoryview(b"")])
def test_empty_bytes(empty: Any) -> None:
    invalid(lambda: prepare_file(empty), "empty")
    invalid(lambda: prepare_file(("a.wav", empty)), "empty")


def test_text_mode_file(tmp_path: Path) -> None:
    text = tmp_path / "talk.wav"
    text.write_bytes(WAV)
    with open(text, encoding="latin-1") as handle:
        invalid(lambda: prepare_file(handle), "text mode", "open(path, 'rb')")
    invalid(lambda: prepare_file(io.StringIO("RIFF....WAVE")), "text mode")
    invalid(lambda: prepare_file(("a.wav", io.StringIO("x"))), "text mode")


def test_stream_that_reads_str_is_text_mode() -> None:
    class TextStream:
        def read(self, size: int = -1) -> str:
            return "RIFF"

    invalid(lambda: prepare_file(TextStream()), "text mode")


def test_closed_file() -> None:
    with open(FIXTURES / "hello.wav", "rb") as handle:
        pass
    invalid(lambda: prepare_file(handle), "closed")
    buffer = io.BytesIO(WAV)
    buffer.close()
    invalid(lambda: prepare_file(buffer), "closed")


def test_file_at_its_end() -> None:
    with open(FIXTURES / "hello.wav", "rb") as handle:
        handle.read()
        invalid(lambda: prepare_file(handle), "no bytes left", ".seek(0)")
    invalid(lambda: prepare_file(io.BytesIO()), "no bytes left")


def test_empty_one_shot_stream(stack: contextlib.ExitStack) -> None:
    invalid(lambda: prepare_file(OnlyRead(b"")), "the stream is empty")
    invalid(lambda: prepare_file(pipe_of(b"", stack)), "the stream is empty")


@pytest.mark.parametrize("url", ["https://example.com/talk.mp3", "http://127.0.0.1/a.wav"])
def test_url_string(url: str) -> None:
    invalid(lambda: prepare_file(url), "is a URL", "from_url")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (42, "int"),
        (None, "NoneType"),
        ({"file": "a.wav"}, "dict"),
        ([WAV], "list"),
        (object(), "object"),
        (1.5, "float"),
    ],
)
def test_wrong_types(value: Any, type_name: str) -> None:
    invalid(lambda: prepare_file(value), "expected a path", f"got {type_name}")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ((), "2 or 3 items"),
        (("a.wav",), "2 or 3 items (filename, content[, content_type]), not 1"),
        (("a.wav", WAV, "audio/wav", "extra"), "content_type]), not 4"),
        ((b"a.wav", WAV), "filename in a file tuple must be a str, not bytes"),
        ((1, WAV), "must be a str, not int"),
        ((Path("a.wav"), WAV), "must be a str, not "),
        (("a.wav", WAV, b"audio/wav"), "content type in a file tuple must be a str, not bytes"),
        (("a.wav", ("b.wav", WAV)), "cannot contain another tuple"),
        (("a.wav", 42), "got int"),
        (("a.wav", None), "got NoneType"),
    ],
)
def test_bad_tuples(value: Any, fragment: str) -> None:
    invalid(lambda: prepare_file(value), fragment)


def test_async_sources_are_refused_by_the_sync_side() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield WAV

    class AsyncReadable:
        async def read(self, size: int = -1) -> bytes:
            return WAV

    generator = chunks()
    invalid(lambda: prepare_file(generator), "async_generator is an async source", "AsyncClient")
    invalid(lambda: prepare_file(("a.wav", AsyncReadable())), "AsyncReadable", "AsyncClient")


def test_async_audio_file_cannot_be_opened_sync() -> None:
    audio = AudioFile("a.wav", "audio/wav", None, False, None, _aopener=object())
    invalid(audio.open().__enter__, "only be sent with AsyncClient")


# --- resources ----------------------------------------------------------------------------------


def test_path_handles_are_closed_after_each_open() -> None:
    audio = prepare_file(FIXTURES / "numbers.wav")
    handles = []
    for _ in range(2):
        with audio.open() as reader:
            handles.append(reader)
            assert read_all(reader) == (FIXTURES / "numbers.wav").read_bytes()
            assert not getattr(reader, "closed", True)
    assert all(getattr(handle, "closed", False) for handle in handles)
    assert handles[0] is not handles[1]


def test_path_handle_is_closed_when_the_upload_fails() -> None:
    audio = prepare_file(FIXTURES / "hello.wav")
    seen = []

    def broken_upload() -> None:
        with audio.open() as reader:
            seen.append(reader)
            raise RuntimeError("upload broke")

    with pytest.raises(RuntimeError, match="upload broke"):
        broken_upload()
    assert getattr(seen[0], "closed", False)


@needs_proc_fds
def test_prepare_leaves_no_descriptor_open(tmp_path: Path) -> None:
    unknown = tmp_path / "blob"
    unknown.write_bytes(UNKNOWN)
    before = open_fds()
    audio = prepare_file(FIXTURES / "hello.wav")
    assert open_fds() == before
    invalid(lambda: prepare_file(unknown), "cannot tell")
    assert open_fds() == before
    read_back(audio)
    assert open_fds() == before


def test_file_shrinking_between_prepare_and_open_is_seen_on_read(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(WAV)
    audio = prepare_file(path)
    path.write_bytes(WAV[:100])
    assert (
        read_back(audio) == WAV[:100]
    )  # the multipart encoder checks the size, see test_multipart


def test_user_file_is_rewound_not_closed() -> None:
    buffer = io.BytesIO(b"xx" + WAV)
    buffer.seek(2)
    audio = prepare_file(buffer)
    for _ in range(3):
        assert read_back(audio) == WAV
        buffer.seek(0)  # the user moves it; the next open puts it back
    assert not buffer.closed


def test_non_replayable_refuses_a_second_open() -> None:
    audio = prepare_file(OnlyRead(WAV))
    assert read_back(audio) == WAV
    exc = invalid(lambda: read_back(audio), "already sent once", "seekable file")
    assert "path, bytes" in str(exc)


def test_spool_makes_a_stream_replayable() -> None:
    audio = prepare_file(OnlyRead(WAV, 999))
    copied, handle = spool(audio)
    try:
        assert (copied.filename, copied.content_type, copied.size, copied.replayable) == (
            "audio.wav",
            "audio/wav",
            len(WAV),
            True,
        )
        assert read_back(copied) == WAV
        assert read_back(copied) == WAV
        assert not getattr(handle, "_rolled", True)  # 135 KB stays in memory
    finally:
        handle.close()
    assert handle.closed


def test_spool_spills_to_an_unlinked_temp_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "SPOOL_MEMORY_LIMIT", 1024)
    before = open_fds() if HAS_PROC_FDS else 0
    audio = prepare_file(("talk.ogg", OnlyRead(OGG)))
    copied, handle = spool(audio)
    with handle:
        assert getattr(handle, "_rolled", False)
        assert os.fstat(handle.fileno()).st_nlink == 0  # nothing left on disk
        assert (copied.filename, copied.size) == ("talk.ogg", len(OGG))
        assert read_back(copied) == OGG
        assert read_back(copied) == OGG
    assert handle.closed
    if HAS_PROC_FDS:
        assert open_fds() == before


def test_spool_closes_its_copy_when_the_stream_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "SPOOL_MEMORY_LIMIT", 16)

    class Broken(OnlyRead):
        def read(self, size: int = -1, /) -> bytes:
            if self._pos >= 200:
                raise OSError("connection reset")
            return super().read(size)

    before = open_fds() if HAS_PROC_FDS else 0
    audio = prepare_file(Broken(WAV, 100))
    with pytest.raises(InvalidFileError, match="connection reset") as info:
        spool(audio)
    assert isinstance(info.value.__cause__, OSError)
    if HAS_PROC_FDS:
        assert open_fds() == before


def test_spool_of_a_spent_stream_is_refused() -> None:
    audio = prepare_file(OnlyRead(WAV))
    read_back(audio)
    invalid(lambda: spool(audio), "already sent once")


def test_spool_of_a_replayable_file_keeps_it_equal() -> None:
    copied, handle = spool(prepare_file(FIXTURES / "hello.webm"))
    with handle:
        assert copied.filename == "hello.webm"
        assert read_back(copied) == (FIXTURES / "hello.webm").read_bytes()


# --- named pipes and devices: read once, the sniffed bytes included ------------------------------


@needs_fifo
@pytest.mark.parametrize(
    ("name", "expected"), [("stream.wav", "stream.wav"), ("stream", "stream.wav")]
)
def test_fifo_path_sends_every_byte_once(tmp_path: Path, name: str, expected: str) -> None:
    fifo = tmp_path / name
    with fifo_writer(fifo, WAV) as feed:  # 135 KB: more than a pipe holds
        audio = prepare_file(fifo)
        assert (audio.filename, audio.content_type, audio.size, audio.replayable) == (
            expected,
            "audio/wav",
            None,
            False,
        )
        with audio.open() as reader:
            assert read_all(reader) == WAV
        invalid(lambda: read_back(audio), "already sent once")
    assert feed.errors == []


@needs_fifo
@needs_proc_fds
def test_fifo_handle_is_closed_after_its_upload_or_when_dropped(tmp_path: Path) -> None:
    before = open_fds()
    with fifo_writer(tmp_path / "a", OGG) as feed:
        audio = prepare_file(tmp_path / "a")
        assert feed.finished.wait(5)  # 16 KB fit in the pipe: the writer is done and closed
        assert open_fds() == before + 1  # held: the sniffed bytes came from it
        read_back(audio)
        assert open_fds() == before
    with fifo_writer(tmp_path / "b", OGG) as feed:
        dropped = prepare_file(tmp_path / "b")
        assert feed.finished.wait(5)
        assert dropped.filename == "b.ogg"
        del dropped
        gc.collect()
        assert open_fds() == before


@needs_fifo
def test_fifo_spooled_for_retries(tmp_path: Path) -> None:
    with fifo_writer(tmp_path / "live", MP3):
        copied, handle = spool(prepare_file(tmp_path / "live"))
    with handle:
        assert (copied.filename, copied.size, copied.replayable) == ("live.mp3", len(MP3), True)
        assert read_back(copied) == MP3
        assert read_back(copied) == MP3


@needs_fifo
def test_empty_fifo(tmp_path: Path) -> None:
    with fifo_writer(tmp_path / "quiet.wav", b""):
        invalid(lambda: prepare_file(tmp_path / "quiet.wav"), "empty")


# --- what a client call prepares: small paths read whole, once --------------------------------


def test_a_call_reads_a_small_path_whole_with_one_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "talk.wav"
    path.write_bytes(WAV)
    opened: list[str] = []
    real_open = open

    def counting_open(target: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(target))
        return real_open(target, *args, **kwargs)

    monkeypatch.setattr(files, "open", counting_open, raising=False)
    audio = files.prepare_to_send(path)
    assert (audio.filename, audio.size, audio.in_memory) == ("talk.wav", len(WAV), True)
    assert read_back(audio) == WAV
    assert read_back(audio) == WAV  # a retry sends the same bytes, without opening it again
    assert opened == [str(path)]


def test_a_call_streams_a_path_over_the_whole_read_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "talk.wav"
    path.write_bytes(WAV)
    monkeypatch.setattr(files, "WHOLE_READ_LIMIT", len(WAV) - 1)
    audio = files.prepare_to_send(path)
    assert (audio.size, audio.in_memory) == (len(WAV), False)
    assert read_back(audio) == WAV
    assert not prepare_file(path).in_memory  # the public function always streams a path
