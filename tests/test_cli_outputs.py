"""The ``transcribe`` command with hostile folders: nothing a user has is replaced or written
through, every transcript is named by its own input alone, and every line printed is text.

Each test runs ``transcribe_sdk.cli._main.run`` in-process against a FakeServer (see cli_fake.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_fake import Fake
from conftest import FIXTURES
from internals import cli_main as cli
from internals import cli_output as output

from transcribe_sdk.testing import DEFAULT_TEXT

WAV = (FIXTURES / "hello.wav").read_bytes()
TRANSCRIPT = DEFAULT_TEXT + "\n"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    state = Fake()
    monkeypatch.setattr(cli, "Client", state.client)
    yield state
    for http in state.http:
        http.close()


def sent(fake: Fake) -> list[str]:
    return sorted(r.file.filename or "" for r in fake.server.requests if r.file is not None)


# -- an output is never an input ---------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_input_named_like_a_transcript_is_transcribed_not_replaced(
    fake: Fake, tmp_path: Path, overwrite: list[str]
) -> None:
    memo = tmp_path / "memo.txt"  # WAV audio inside, a .txt name
    memo.write_bytes(WAV)
    result = fake.run(memo, "-f", "text", *overwrite)
    assert result.code == 0, result.stderr
    assert memo.read_bytes() == WAV
    assert len(fake.server.requests) == 1  # transcribed, not "skipped (existing)"
    assert (tmp_path / "memo.txt.txt").read_text() == TRANSCRIPT
    assert "1 done, 0 failed, 0 skipped" in result.stderr


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_transcript_path_that_is_another_input_fails_that_file(
    fake: Fake, tmp_path: Path, overwrite: list[str]
) -> None:
    (tmp_path / "a.wav").write_bytes(WAV)
    (tmp_path / "a.wav.txt").write_bytes(WAV)  # an input too: a.wav's transcript path
    result = fake.run(tmp_path / "a.wav", tmp_path / "a.wav.txt", "-f", "text", *overwrite)
    assert result.code == 1
    assert (tmp_path / "a.wav.txt").read_bytes() == WAV
    assert len(fake.server.requests) == 1  # a.wav.txt's audio, not a.wav
    assert (tmp_path / "a.wav.txt.txt").read_text() == TRANSCRIPT
    assert f"failed {tmp_path / 'a.wav'}: its transcript would replace" in result.stderr
    assert "an input of this run" in result.stderr
    assert "1 done, 1 failed, 0 skipped" in result.stderr


def test_a_transcript_path_linked_to_an_input_fails_that_file(fake: Fake, tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(WAV)
    (tmp_path / "b.wav").write_bytes(WAV)
    os.link(tmp_path / "b.wav", tmp_path / "a.wav.txt")  # the same file as the input b.wav
    result = fake.run(tmp_path / "a.wav", tmp_path / "b.wav", "--overwrite")
    assert result.code == 1
    assert (tmp_path / "b.wav").read_bytes() == WAV
    assert sent(fake) == ["b.wav"]
    assert "an input of this run" in result.stderr


# -- names are a function of each input alone --------------------------------------------------


@pytest.mark.parametrize("to_folder", [False, True])
def test_a_new_folder_that_sorts_first_does_not_take_another_files_name(
    fake: Fake, tmp_path: Path, to_folder: bool
) -> None:
    recordings, out = tmp_path / "recordings", tmp_path / "out"
    (recordings / "rec1").mkdir(parents=True)
    (recordings / "rec1" / "talk.wav").write_bytes(WAV)
    where = ["-o", out] if to_folder else []
    assert fake.run(recordings, *where).code == 0
    first = out / "rec1" / "talk.wav.txt" if to_folder else recordings / "rec1" / "talk.wav.txt"
    assert first.read_text() == TRANSCRIPT

    (recordings / "rec0").mkdir()
    (recordings / "rec0" / "talk.wav").write_bytes(WAV)
    fake.server.add_result("the new one")
    again = fake.run(recordings, *where)
    assert again.code == 0, again.stderr
    assert len(fake.server.requests) == 2  # the new file was sent, the old one skipped
    assert "1 done, 0 failed, 1 skipped" in again.stderr
    new = out / "rec0" / "talk.wav.txt" if to_folder else recordings / "rec0" / "talk.wav.txt"
    assert new.read_text() == "the new one\n"
    assert first.read_text() == TRANSCRIPT


def test_a_name_does_not_depend_on_the_rest_of_the_run(tmp_path: Path) -> None:
    sources = {
        tmp_path / "talk.mp3": Path("talk.mp3"),
        tmp_path / "talk.wav": Path("talk.wav"),
        tmp_path / "a" / "talk.wav": Path("a/talk.wav"),
        tmp_path / "b" / "talk.wav": Path("b/talk.wav"),
    }
    for source in sources:  # real files: a subtitle's name looks at the input's folder
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(WAV)
    for out in (None, tmp_path / "out"):
        together = output.output_paths(sources, "srt", out)
        for source, relative in sources.items():
            alone = output.output_paths({source: relative}, "srt", out)
            assert alone == {source: together[source]}
        assert len(set(together.values())) == len(sources)


def test_two_arguments_giving_one_transcript_path_fail_both(fake: Fake, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "talk.wav").write_bytes(WAV)
    (tmp_path / "a" / "solo.wav").write_bytes(WAV)
    out = tmp_path / "out"
    result = fake.run(tmp_path / "a", tmp_path / "b", "-o", out)
    assert result.code == 1
    assert sent(fake) == ["solo.wav"]
    assert sorted(p.name for p in out.iterdir()) == ["solo.wav.txt"]
    assert "would also be that of" in result.stderr
    assert "1 done, 2 failed" in result.stderr


# -- writing never follows a planted link ------------------------------------------------------


def test_a_planted_partial_symlink_is_not_written_through(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "hello.wav").write_bytes(WAV)
    for name in ("hello.txt", "hello.wav.txt"):  # the old fixed temporary names
        (folder / f".{name}.partial").symlink_to(victim)
    names = iter(["aaaa", "bbbb"])  # the first random name is taken by a planted link too
    monkeypatch.setattr(output.secrets, "token_hex", lambda _n: next(names))
    (folder / ".hello.wav.txt.aaaa.partial").symlink_to(victim)
    result = fake.run(folder / "hello.wav")
    assert result.code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert (folder / "hello.wav.txt").read_text() == TRANSCRIPT
    assert not (folder / "hello.wav.txt").is_symlink()
    assert sorted(p.name for p in folder.glob(".*")) == [  # only the planted ones are left
        ".hello.txt.partial",
        ".hello.wav.txt.aaaa.partial",
        ".hello.wav.txt.partial",
    ]


def test_a_transcript_path_that_is_a_symlink_is_not_replaced(fake: Fake, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "hello.wav").write_bytes(WAV)
    (tmp_path / "hello.wav.txt").symlink_to(victim)
    skipped = fake.run(tmp_path / "hello.wav")
    assert skipped.code == 0
    assert "0 done, 0 failed, 1 skipped" in skipped.stderr
    forced = fake.run(tmp_path / "hello.wav", "--overwrite")
    assert forced.code == 1
    assert "is a symbolic link; not replaced" in forced.stderr
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "hello.wav.txt").is_symlink()
    assert fake.server.requests == []


# -- output folders that cannot take a transcript ----------------------------------------------


def test_an_output_dir_that_is_a_file_is_a_usage_error(fake: Fake, tmp_path: Path) -> None:
    (tmp_path / "hello.wav").write_bytes(WAV)
    (tmp_path / "file").write_text("a file\n")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        result = fake.run(tmp_path / "hello.wav", "-o", out)
        assert result.code == 2
        assert result.stderr.startswith("transcribe: -o/--output-dir: ")
        assert "Traceback" not in result.stderr
    assert "is not a folder" in fake.run(tmp_path / "hello.wav", "-o", tmp_path / "file").stderr
    assert "cannot write in" in fake.run(tmp_path / "hello.wav", "-o", tmp_path / "file/x").stderr
    assert (tmp_path / "file").read_text() == "a file\n"
    assert fake.server.requests == []


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_where_a_transcript_goes_fails_that_file_only(
    fake: Fake, tmp_path: Path, overwrite: list[str]
) -> None:
    (tmp_path / "hello.wav").write_bytes(WAV)
    (tmp_path / "numbers.wav").write_bytes(WAV)
    (tmp_path / "hello.wav.txt").mkdir()
    result = fake.run(tmp_path / "hello.wav", tmp_path / "numbers.wav", *overwrite)
    assert result.code == 1
    assert f"failed {tmp_path / 'hello.wav'}: " in result.stderr
    assert "is a folder; a transcript cannot go there" in result.stderr
    assert (tmp_path / "numbers.wav.txt").read_text() == TRANSCRIPT
    assert "1 done, 1 failed, 0 skipped" in result.stderr
    assert sent(fake) == ["numbers.wav"]


def test_a_transcript_that_cannot_be_written_fails_that_file_only(
    fake: Fake, tmp_path: Path
) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "hello.wav").write_bytes(WAV)
    (tmp_path / "in" / "sub" / "numbers.wav").write_bytes(WAV)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file where a folder would go\n")
    result = fake.run(tmp_path / "in", "-o", tmp_path / "out", "-c", "1")
    assert result.code == 1
    assert f"failed {tmp_path / 'in' / 'sub' / 'numbers.wav'}: cannot write" in result.stderr
    assert (tmp_path / "out" / "hello.wav.txt").read_text() == TRANSCRIPT
    assert "1 done, 1 failed" in result.stderr
    assert "Traceback" not in result.stderr


# -- only printable text reaches the terminal --------------------------------------------------

HOSTILE = "bad\x1b[2J\x1b]0;owned\x07 input\r\ntranscribe: 99 done, 0 failed\u202e\x9b31m"


@pytest.mark.parametrize("tty", [False, True])
def test_server_text_and_names_are_printed_escaped(fake: Fake, tmp_path: Path, tty: bool) -> None:
    name = tmp_path / "x\ntranscribe: 42 done, 0 failed\x1b[1A.wav"
    name.write_bytes(WAV)
    (tmp_path / "ok.wav").write_bytes(WAV)
    fake.server.add_error(400, HOSTILE)
    fake.server.add_result("fine")
    result = fake.run(name, tmp_path / "ok.wav", "-c", "1", tty=tty)
    assert result.code == 1
    shown = result.stderr.replace("\r", "\n")  # the progress line's own (names are escaped)
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert raw not in shown
    lines = shown.splitlines()
    assert not [line for line in lines if line.startswith("transcribe: 42 done")]
    assert not [line for line in lines if line.startswith("transcribe: 99 done")]
    assert "x\\ntranscribe: 42 done, 0 failed\\x1b[1A.wav" in result.stderr
    assert "bad\\x1b[2J\\x1b]0;owned\\x07 input" in result.stderr
    assert "\\u202e\\x9b31m" in result.stderr


def test_transcripts_on_a_terminal_are_escaped_but_files_and_pipes_get_them_whole(
    fake: Fake, tmp_path: Path
) -> None:
    (tmp_path / "hello.wav").write_bytes(WAV)
    text = "line one\x1b[31m\tred\nline two\x07"
    for _ in range(3):
        fake.server.add_result(text)
    terminal = fake.run(tmp_path / "hello.wav", "--stdout", tty_stdout=True)
    assert terminal.stdout == "line one\\x1b[31m\tred\nline two\\x07\n"
    piped = fake.run(tmp_path / "hello.wav", "--stdout")
    assert piped.stdout == text + "\n"
    assert fake.run(tmp_path / "hello.wav").code == 0
    assert (tmp_path / "hello.wav.txt").read_text() == text + "\n"


def test_printable() -> None:
    assert output.printable("plain text, accents é, 日本語, emoji 🎧") == (
        "plain text, accents é, 日本語, emoji 🎧"
    )
    assert output.printable("a\x1bb\nc\x00\x7f\x85\u2028\u202e\udcff") == (
        "a\\x1bb\\nc\\x00\\x7f\\x85\\u2028\\u202e\\udcff"
    )
    assert output.printable("a\nb\tc\x1b", keep="\n\t") == "a\nb\tc\\x1b"


# -- checks before and after sending (issue 14) ---------------------------------------------------
def test_limits_and_checks_reach_the_call() -> None:
    from internals import build_parser, call_options

    args = build_parser().parse_args(
        [
            "a.wav",
            "--max-upload-mb",
            "2.5",
            "--max-audio-seconds",
            "90",
            "--silence-filter",
            "--provider",
            "ovh",
            "--enforce-providers",
        ]
    )
    options = call_options(args)
    assert options["max_upload_bytes"] == 2_500_000
    assert options["max_audio_seconds"] == 90
    assert options["silence_filter"] is True
    assert options["enforce_allowed_providers"] is True
    assert options["allowed_providers"] == ["ovh"]


def test_a_refused_file_speaks_in_flags() -> None:
    from internals import cli_message

    from transcribe_sdk import AudioTooLongError, UploadTooLargeError

    too_big = cli_message(UploadTooLargeError(3_000_000, 2_500_000))
    assert "--max-upload-mb" in too_big
    assert "max_upload_bytes" not in too_big
    too_long = cli_message(
        AudioTooLongError(
            "'a.wav' is 120.0 s long, over max_audio_seconds=90", seconds=120, limit=90
        )
    )
    assert "--max-audio-seconds 90" in too_long
