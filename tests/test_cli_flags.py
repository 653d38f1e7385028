"""The ``transcribe`` command: --stdout with several inputs, auth flags, ``-`` for standard
input, the English-only local model checked up front, and ``python -m transcribe_sdk``."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_fake import Fake
from conftest import FIXTURES
from internals import cli_main as cli

from transcribe_sdk import __version__
from transcribe_sdk.testing import DEFAULT_TEXT


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    state = Fake()
    monkeypatch.setattr(cli, "Client", state.client)
    yield state
    for http in state.http:
        http.close()


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    shutil.copy(FIXTURES / "hello.wav", a)
    shutil.copy(FIXTURES / "numbers.wav", b)
    return a, b


# -- --stdout with several inputs --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "verbose_json"])
def test_stdout_json_formats_with_several_inputs_are_json_lines(
    fake: Fake, two: tuple[Path, Path], fmt: str
) -> None:
    fake.server.add_result("first")
    fake.server.add_result("second")
    result = fake.run(*two, "--stdout", "-f", fmt, "-c", "1")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    objects = [json.loads(line) for line in lines]
    assert [o["input"] for o in objects] == [str(p) for p in two]  # in input order
    assert [o["text"] for o in objects] == ["first", "second"]
    assert [next(iter(o)) for o in objects] == ["input", "input"]  # the path comes first


@pytest.mark.parametrize(
    ("fmt", "body"),
    [("text", "x\n"), ("srt", "1\n00:00:00,000 --> 00:00:01,000\nx\n"), ("vtt", None)],
)
def test_stdout_text_formats_with_several_inputs_get_a_header_each(
    fake: Fake, two: tuple[Path, Path], fmt: str, body: str | None
) -> None:
    result = fake.run(*two, "--stdout", "-f", fmt)
    assert result.code == 0, result.stderr
    blocks = result.stdout.split("\n\n==> ")
    assert len(blocks) == 2
    assert blocks[0].startswith(f"==> {two[0]} <==\n")
    assert blocks[1].startswith(f"{two[1]} <==\n")


def test_stdout_with_one_input_is_the_transcript_alone(fake: Fake, two: tuple[Path, Path]) -> None:
    fake.server.add_result("only")
    text = fake.run(two[0], "--stdout")
    assert text.stdout == "only\n"
    one = fake.run(two[0], "--stdout", "-f", "json")
    assert json.loads(one.stdout)["text"] == DEFAULT_TEXT  # the object alone, as in a file
    assert "input" not in json.loads(one.stdout)


def test_stdout_json_lines_survive_a_name_that_is_not_utf8(fake: Fake, tmp_path: Path) -> None:
    if sys.platform == "darwin":
        pytest.skip("macOS file systems refuse names that are not UTF-8")
    odd = tmp_path / os.fsdecode(b"caf\xe9.wav")
    shutil.copy(FIXTURES / "hello.wav", odd)
    shutil.copy(FIXTURES / "hello.wav", tmp_path / "b.wav")
    result = fake.run(odd, tmp_path / "b.wav", "--stdout", "-f", "json")
    assert result.code == 0, result.stderr
    first = json.loads(result.stdout.splitlines()[0])
    assert first["input"] == str(odd)


# -- --api-key and --no-auth -------------------------------------------------------------------


def test_api_key_and_no_auth_reach_the_client(
    fake: Fake, two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRANSCRIBE_API_KEY", raising=False)
    assert fake.run(two[0], "--stdout", "--api-key", "sk-flag-key-1234567890").code == 0
    assert fake.run(two[0], "--stdout", "--no-auth").code == 0
    assert fake.run(two[0], "--stdout").code == 0
    assert [m["api_key"] for m in fake.made] == ["sk-flag-key-1234567890", "", None]


def test_no_auth_sends_no_authorization_header(two: tuple[Path, Path]) -> None:
    from transcribe_sdk.testing import FakeServer

    server = FakeServer()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    seen: list[Any] = []

    def client(**kwargs: Any) -> Any:
        import httpx

        from transcribe_sdk import Client

        seen.append(kwargs)
        return Client(**kwargs, http_client=httpx.Client(transport=server))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", env)
        patch.setattr(cli, "Client", client)
        out, err = io.StringIO(), io.StringIO()
        code = cli.run(
            [str(two[0]), "--stdout", "--no-auth", "--base-url", "http://127.0.0.1:9/v1"],
            stdout=out,
            stderr=err,
        )
    assert code == 0, err.getvalue()
    assert "authorization" not in {k.lower() for k in server.requests[0].headers}


def test_api_key_and_no_auth_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run(["a.wav", "--api-key", "k", "--no-auth"])
    assert exited.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_help_warns_that_a_key_flag_shows_in_the_process_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.run(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "process list" in text
    assert "--no-auth" in text
    assert "python -m transcribe_sdk" in text


def test_a_malformed_key_is_a_usage_error_naming_the_flag(two: tuple[Path, Path]) -> None:
    out, err = io.StringIO(), io.StringIO()
    key = " sk-with-a-space-0123456789"
    assert cli.run([str(two[0]), "--api-key", key], stdout=out, stderr=err) == 2
    assert "--api-key (or $TRANSCRIBE_API_KEY): has surrounding whitespace" in err.getvalue()
    assert key.strip() not in err.getvalue()


def test_a_key_given_by_flag_is_never_printed(
    fake: Fake, two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.server.add_error(401, "invalid key")
    key = "sk-secret-flag-value-0123456789"
    result = fake.run(two[0], "--api-key", key)
    assert result.code == 1
    assert key not in result.stderr + result.stdout


# -- "-": standard input -----------------------------------------------------------------------


class _Pipe(io.BytesIO):
    """Standard input as a pipe: not seekable."""

    def seekable(self) -> bool:
        return False


def test_stdin_is_transcribed_to_stdout(fake: Fake, tmp_path: Path) -> None:
    audio = (FIXTURES / "hello.mp3").read_bytes()
    out, err = io.StringIO(), io.StringIO()
    fake.server.add_result("from a pipe")
    code = cli.run(["-"], stdout=out, stderr=err, stdin=_Pipe(audio))
    assert code == 0, err.getvalue()
    assert out.getvalue() == "from a pipe\n"
    upload = fake.server.requests[0].file
    assert upload is not None
    assert upload.filename == "stdin.mp3"  # its format told from its first bytes
    assert upload.data == audio
    assert list(tmp_path.iterdir()) == []  # no file written anywhere


def test_stdin_with_split(fake: Fake) -> None:
    out, err = io.StringIO(), io.StringIO()
    wav = (FIXTURES / "numbers.wav").read_bytes()
    code = cli.run(
        ["-", "--split", "--max-chunk-seconds", "2"], stdout=out, stderr=err, stdin=_Pipe(wav)
    )
    assert code == 0, err.getvalue()
    assert len(fake.server.requests) >= 2
    assert out.getvalue().startswith(DEFAULT_TEXT)


class _Terminal(io.BytesIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["-", "b.wav"], b"x", "standard input must be the only INPUT"),
        (["-", "-o", "out"], b"x", "-o/--output-dir: not with -"),
        (["-"], None, "standard input is a terminal"),
    ],
)
def test_stdin_usage_errors(fake: Fake, argv: list[str], stdin: bytes | None, message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    source = _Terminal() if stdin is None else _Pipe(stdin)
    assert cli.run(argv, stdout=out, stderr=err, stdin=source) == 2
    assert message in err.getvalue()
    assert fake.server.requests == []


def test_empty_stdin_fails_that_input(fake: Fake) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(["-"], stdout=out, stderr=err, stdin=_Pipe(b"")) == 1
    assert "failed -: " in err.getvalue()
    assert "empty" in err.getvalue()


def test_a_file_named_dash_is_reached_as_dot_slash_dash(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(FIXTURES / "hello.wav", tmp_path / "-")
    monkeypatch.chdir(tmp_path)
    result = fake.run("./-")
    assert result.code == 0, result.stderr
    assert (tmp_path / "-.txt").read_text() == DEFAULT_TEXT + "\n"


# -- the local engine's English-only model ------------------------------------------------------


def test_local_english_only_model_and_another_language_fail_once_up_front(
    tmp_path: Path,
) -> None:
    for name in ("a.wav", "b.wav", "c.wav"):
        shutil.copy(FIXTURES / "hello.wav", tmp_path / name)
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(["--local", str(tmp_path), "-l", "fr"], stdout=out, stderr=err) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, lines  # once, not once per file
    assert "-l/--language fr" in lines[0]
    assert "'tiny.en' only transcribes English" in lines[0]
    assert "local://small" in lines[0]
    assert not list(tmp_path.glob("*.txt"))


def test_a_multilingual_local_model_passes_the_check() -> None:
    class Engine:
        def check_model(self, name: str) -> bool:  # loads it; whether it is multilingual
            return name != "folder-en"

    assert cli.english_only(Engine(), "tiny.en")  # told by its name, without loading it
    assert cli.english_only(Engine(), "distil-small.en")
    assert not cli.english_only(Engine(), "small")
    assert cli.english_only(Engine(), "folder-en")  # loaded and asked


def test_local_model_check_is_skipped_for_english_or_a_remote_server(
    fake: Fake, two: tuple[Path, Path]
) -> None:
    assert fake.run(two[0], "-l", "fr", "--stdout").code == 0  # a server decides for itself
    assert fake.server.requests[0].field("language") == "fr"


# -- python -m transcribe_sdk and --version -----------------------------------------------------


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "transcribe_sdk", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"transcribe {__version__}"
    usage = subprocess.run(
        [sys.executable, "-m", "transcribe_sdk"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert usage.returncode == 2
    assert usage.stderr.startswith("usage: transcribe")


def test_importing_the_package_does_not_import_tqdm() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, transcribe_sdk; print('tqdm' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"


# -- progress on a real terminal ----------------------------------------------------------------


@pytest.mark.heavy  # the command in a process of its own, on a pseudo-terminal
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("size", [(0, 0), (24, 100)])
def test_progress_on_a_real_terminal(tmp_path: Path, size: tuple[int, int]) -> None:
    """stderr is a pty: the progress line is drawn in place, on a terminal that reports its
    size and on one that reports 0 x 0 (as a new pty does)."""
    import fcntl
    import select
    import struct
    import termios

    shutil.copy(FIXTURES / "hello.wav", tmp_path / "hello.wav")
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "transcribe_sdk", "--local", "hello.wav"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    try:
        for _ in range(1200):  # bounded: at most 120 s of 0.1 s waits
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the other end closed (Linux)
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        assert process.wait(timeout=60) == 0, shown
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
    text = shown.decode("utf-8", "replace")
    assert "\r" in text  # redrawn in place
    assert "hello.wav: " in text  # the file in flight
    assert "1/1 files [00:" in text  # done of the total, the elapsed time
    assert "done hello.wav" not in text  # no plain lines on a terminal
    assert "transcribe: 1 done, 0 failed" in text
    widest = max(len(line) for line in re.split(r"[\r\n]", text))
    assert widest <= (size[1] or 80)
    assert (tmp_path / "hello.wav.txt").exists()


# -- --min-cue-duration ------------------------------------------------------------------------

_WORDS = [{"id": i, "start": i * 0.3, "end": (i + 1) * 0.3, "text": f" w{i}"} for i in range(10)]


@pytest.mark.parametrize(("fmt", "marker"), [("srt", ","), ("vtt", ".")])
def test_min_cue_duration_asks_verbose_json_and_makes_the_subtitles_here(
    fake: Fake, two: tuple[Path, Path], fmt: str, marker: str
) -> None:
    text = " ".join(f"w{i}" for i in range(10))
    fake.server.add_result(text, segments=_WORDS, duration=3.0)
    result = fake.run(two[0], "-f", fmt, "--min-cue-duration", "1.5")
    assert result.code == 0, result.stderr
    assert fake.server.requests[0].field("response_format") == "verbose_json"
    written = (two[0].parent / f"a.{fmt}").read_text()
    times = re.findall(
        rf"(\d\d):(\d\d):(\d\d){re.escape(marker)}(\d{{3}}) --> "
        rf"(\d\d):(\d\d):(\d\d){re.escape(marker)}(\d{{3}})",
        written,
    )
    assert times
    spans = [(int(t[2]) + int(t[3]) / 1000, int(t[6]) + int(t[7]) / 1000) for t in times]
    assert all(end - start >= 1.5 - 0.002 for start, end in spans)
    assert spans[-1][1] <= 3.0 + 1.5  # no drift past the audio
    assert re.findall(r"w\d", written) == [f"w{i}" for i in range(10)]


def test_without_min_cue_duration_the_server_renders_the_subtitles(
    fake: Fake, two: tuple[Path, Path]
) -> None:
    assert fake.run(two[0], "-f", "srt").code == 0
    assert fake.server.requests[0].field("response_format") == "srt"
    assert (two[0].parent / "a.srt").read_text().startswith("1\n00:00:00,000 --> ")


@pytest.mark.parametrize("bad", ["-1", "nan", "x"])
def test_min_cue_duration_must_be_a_number_of_seconds(
    two: tuple[Path, Path], bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run([str(two[0]), "-f", "srt", f"--min-cue-duration={bad}"])
    assert exited.value.code == 2
    assert "--min-cue-duration: expects a number of 0 or more" in capsys.readouterr().err


# -- the command's words -----------------------------------------------------------------------


def test_a_missing_key_names_the_flags(
    two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRANSCRIBE_API_KEY", raising=False)
    monkeypatch.delenv("TRANSCRIBE_BASE_URL", raising=False)
    err = io.StringIO()
    assert cli.run([str(two[0])], stdout=io.StringIO(), stderr=err) == 2
    line = err.getvalue()
    assert "TRANSCRIBE_API_KEY" in line
    assert "--api-key" in line
    assert "--no-auth" in line
    assert "api_key=" not in line
    assert "client" not in line


def test_the_commands_words_for_a_file(fake: Fake, tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    shutil.copy(FIXTURES / "hello.wav", long)
    odd = tmp_path / "noext"
    odd.write_bytes(b"\x00\x01" * 500)
    result = fake.run(long, odd, "--max-audio-seconds", "0.5")
    assert result.code == 1
    assert "over --max-audio-seconds 0.5" in result.stderr
    assert "--split" in result.stderr
    assert "transcribe_long" not in result.stderr
    assert "Give the file its audio extension" in result.stderr
    assert "tuple" not in result.stderr
    assert "noext: cannot tell" in result.stderr  # no "file: " before it


def test_empty_stdin_says_to_pipe_audio(fake: Fake) -> None:
    err = io.StringIO()
    assert cli.run(["-"], stdout=io.StringIO(), stderr=err, stdin=io.BytesIO(b"")) == 1
    assert "standard input is empty: pipe the audio in" in err.getvalue()
