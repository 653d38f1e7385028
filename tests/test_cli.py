"""The ``transcribe`` command.

Most tests call ``transcribe_sdk.cli._main.run`` in-process with its ``Client`` replaced by one that
talks to a FakeServer, so every request it sends is recorded. Two tests run the installed
console script in a subprocess with ``--local`` (the offline engine), end to end.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_fake import TTY, Fake
from conftest import FIXTURES
from internals import build_parser, resolve
from internals import cli_main as cli
from wer import word_error_rate

from transcribe_sdk.testing import DEFAULT_TEXT, FakeServer

HELLO_TEXT = "Hello world. This is a test of the transcription client."


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    state = Fake()
    monkeypatch.setattr(cli, "Client", state.client)
    yield state
    for http in state.http:
        http.close()


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """A folder: hello.wav, numbers.wav, sub/hello.mp3, and a notes.txt that is not audio."""
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(FIXTURES / "hello.wav", folder / "hello.wav")
    shutil.copy(FIXTURES / "numbers.wav", folder / "numbers.wav")
    shutil.copy(FIXTURES / "hello.mp3", folder / "sub" / "hello.mp3")
    (folder / "notes.txt").write_text("not audio")
    return folder


def sent_files(server: FakeServer) -> list[str]:
    return sorted(r.file.filename or "" for r in server.requests if r.file is not None)


# -- finding inputs and naming outputs ---------------------------------------------------------


def test_find_inputs_files_folders_globs(audio: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(FIXTURES / "hello.flac", audio / "LOUD.FLAC")
    found, missing = cli.find_inputs([str(audio)])
    assert found == {
        audio / "LOUD.FLAC": Path("LOUD.FLAC"),
        audio / "hello.wav": Path("hello.wav"),
        audio / "numbers.wav": Path("numbers.wav"),
        audio / "sub" / "hello.mp3": Path("sub/hello.mp3"),
    }  # recursive, audio only (notes.txt is left out), any case of extension
    assert list(found) == sorted(found)  # sorted
    assert missing == []

    monkeypatch.chdir(audio)
    found, missing = cli.find_inputs(["*.wav", "hello.wav", "./hello.wav", "**/*.mp3", "no*.mp3"])
    assert list(found) == [Path("hello.wav"), Path("numbers.wav"), Path("sub/hello.mp3")]
    assert missing == ["no*.mp3"]  # once each, however spelled

    found, missing = cli.find_inputs(["notes.txt", "s*", "absent.wav", f"{audio}/s*/*.mp3"])
    assert found == {  # named explicitly: taken as given; a glob: below its fixed part
        Path("notes.txt"): Path("notes.txt"),
        audio / "sub" / "hello.mp3": Path("sub/hello.mp3"),
    }
    assert missing == ["s*", "absent.wav"]  # a glob matching only a folder matches no file


def test_output_paths(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    sources = {
        a / "talk.mp3": Path("talk.mp3"),
        a / "talk.wav": Path("talk.wav"),
        a / "solo.flac": Path("solo.flac"),
        b / "x" / "talk.wav": Path("x/talk.wav"),
    }
    for source in sources:
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"")
    assert cli.output_paths(sources, "srt", None) == {
        a / "talk.mp3": a / "talk.mp3.srt",  # talk.wav beside it: the whole name
        a / "talk.wav": a / "talk.wav.srt",
        a / "solo.flac": a / "solo.srt",  # subtitles: the name a media player looks for
        b / "x" / "talk.wav": b / "x" / "talk.srt",
    }
    assert cli.output_paths(sources, "srt", tmp_path / "out")[b / "x" / "talk.wav"] == (
        tmp_path / "out" / "x" / "talk.srt"
    )
    out = tmp_path / "out"
    assert cli.output_paths(sources, "text", out) == {
        a / "talk.mp3": out / "talk.mp3.txt",  # under -o: the path below the argument
        a / "talk.wav": out / "talk.wav.txt",
        a / "solo.flac": out / "solo.flac.txt",
        b / "x" / "talk.wav": out / "x" / "talk.wav.txt",
    }
    for fmt, ext in [("json", "json"), ("verbose_json", "json"), ("text", "txt")]:
        one = {a / "x.ogg": Path("x.ogg")}
        assert cli.output_paths(one, fmt, None) == {a / "x.ogg": a / f"x.ogg.{ext}"}
    assert cli.output_paths({a / "x.ogg": Path("x.ogg")}, "vtt", None) == {a / "x.ogg": a / "x.vtt"}


# -- writing transcripts -----------------------------------------------------------------------


def test_transcripts_are_written_next_to_inputs(fake: Fake, audio: Path) -> None:
    result = fake.run(audio)
    assert result.code == 0
    assert result.stdout == ""
    for name in ("hello.wav.txt", "numbers.wav.txt", "sub/hello.mp3.txt"):
        assert (audio / name).read_text() == DEFAULT_TEXT + "\n"
    assert sent_files(fake.server) == ["hello.mp3", "hello.wav", "numbers.wav"]
    assert {r.field("response_format") for r in fake.server.requests} == {"text"}
    assert {r.field("model") for r in fake.server.requests} == {"whisper-large-v3"}
    assert not list(audio.rglob(".*.partial"))  # no temporary files left behind
    assert "transcribe: 3 done, 0 failed, 0 skipped" in result.stderr
    assert fake.made == [{"base_url": None, "api_key": None, "max_retries": 2, "timeout": None}]


@pytest.mark.parametrize("fmt", ["json", "verbose_json", "text", "srt", "vtt"])
def test_each_format(fake: Fake, tmp_path: Path, fmt: str) -> None:
    source = tmp_path / "talk.wav"
    shutil.copy(FIXTURES / "hello.wav", source)
    assert fake.run(source, "--format", fmt).code == 0
    assert fake.server.requests[0].field("response_format") == fmt
    name = {"json": "talk.wav.json", "verbose_json": "talk.wav.json", "text": "talk.wav.txt"}
    text = (tmp_path / name.get(fmt, f"talk.{fmt}")).read_text()
    assert text.endswith("\n")
    if fmt in ("json", "verbose_json"):
        data = json.loads(text)
        assert data["text"] == DEFAULT_TEXT
        assert ("segments" in data) == (fmt == "verbose_json")
    elif fmt == "text":
        assert text == DEFAULT_TEXT + "\n"
    elif fmt == "srt":
        assert text.startswith("1\n00:00:00,000 --> 00:00:02,000\n")
    else:
        assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n")


def test_output_dir(fake: Fake, audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    result = fake.run(audio / "hello.wav", audio / "sub", "-o", out, "-f", "srt")
    assert result.code == 0
    # both would be out/hello.srt: each keeps its whole name
    assert sorted(p.name for p in out.iterdir()) == ["hello.mp3.srt", "hello.wav.srt"]
    assert not (audio / "hello.wav.srt").exists()
    assert not (audio / "hello.srt").exists()


def test_existing_outputs_are_skipped_unless_overwrite(fake: Fake, audio: Path) -> None:
    (audio / "hello.wav.txt").write_text("kept\n")
    result = fake.run(audio / "hello.wav", audio / "numbers.wav")
    assert result.code == 0
    assert sent_files(fake.server) == ["numbers.wav"]
    assert (audio / "hello.wav.txt").read_text() == "kept\n"
    assert "1 done, 0 failed, 1 skipped" in result.stderr
    assert "--overwrite" in result.stderr

    again = fake.run(audio / "hello.wav", audio / "numbers.wav")
    assert again.code == 0
    assert len(fake.server.requests) == 1  # nothing left to do
    assert "0 done, 0 failed, 2 skipped" in again.stderr

    forced = fake.run(audio / "hello.wav", "--overwrite")
    assert forced.code == 0
    assert (audio / "hello.wav.txt").read_text() == DEFAULT_TEXT + "\n"
    assert len(fake.server.requests) == 2


def test_stdout_prints_in_input_order_and_writes_nothing(fake: Fake, audio: Path) -> None:
    (audio / "numbers.wav.txt").write_text("existing\n")  # --stdout ignores existing outputs
    fake.server.add_result("first")
    fake.server.add_result("second")
    result = fake.run(audio / "numbers.wav", audio / "hello.wav", "--stdout", "-c", "1")
    assert result.code == 0
    assert result.stdout == (  # several inputs: a header before each transcript
        f"==> {audio / 'numbers.wav'} <==\nfirst\n\n==> {audio / 'hello.wav'} <==\nsecond\n"
    )
    assert not (audio / "hello.wav.txt").exists()
    assert (audio / "numbers.wav.txt").read_text() == "existing\n"


# -- failures ----------------------------------------------------------------------------------


def test_missing_inputs_fail_with_a_message(fake: Fake, audio: Path) -> None:
    result = fake.run(audio / "hello.wav", audio / "nope.wav")
    assert result.code == 1
    assert f"nothing matches '{audio / 'nope.wav'}'" in result.stderr
    assert "1 done, 1 failed" in result.stderr
    assert (audio / "hello.wav.txt").exists()

    only_missing = fake.run(audio / "nope.wav", audio / "*.ogg")
    assert only_missing.code == 1
    assert "nothing matches" in only_missing.stderr
    assert "*.ogg" in only_missing.stderr
    assert "2 failed" in only_missing.stderr
    assert len(fake.server.requests) == 1


def test_no_key_and_no_local_is_a_configuration_error(audio: Path) -> None:
    err = io.StringIO()
    code = cli.run([str(audio / "hello.wav")], stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert "TRANSCRIBE_API_KEY" in err.getvalue()
    assert not (audio / "hello.wav.txt").exists()


def test_a_failing_file_gives_exit_1_and_a_summary(fake: Fake, audio: Path) -> None:
    fake.server.add_error(400, "this audio is corrupt")
    result = fake.run(audio / "hello.wav", audio / "numbers.wav", "-c", "1")
    assert result.code == 1
    assert re.search(r"failed .*hello\.wav: .*this audio is corrupt", result.stderr)
    assert "1 done, 1 failed, 0 skipped" in result.stderr
    assert not (audio / "hello.wav.txt").exists()
    assert (audio / "numbers.wav.txt").read_text() == DEFAULT_TEXT + "\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "0"], "argument -c/--concurrency: expects an integer of 1 or more, not '0'"),
        (["--retries", "-1"], "argument --retries: expects an integer of 0 or more, not '-1'"),
        (["--timeout", "0"], "argument --timeout: expects a number above 0, not '0'"),
        (["--deadline", "inf"], "argument --deadline: expects a number above 0, not 'inf'"),
        (["--split", "--max-chunk-mb", "nan"], "argument --max-chunk-mb: expects a number"),
        (["--max-chunk-seconds", "-5"], "argument --max-chunk-seconds: expects a number above"),
        (["--temperature", "nan"], "argument --temperature: expects a finite number"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_flag(
    fake: Fake, audio: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        fake.run(audio / "hello.wav", *argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert fake.server.requests == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--temperature", "7"], "transcribe: --temperature: "),
        (["--split", "--max-chunk-mb", "0.01"], "transcribe: --max-chunk-mb: must be at least"),
        (["--language", "english"], "transcribe: -l/--language: "),
        (["--extra", "nope"], "transcribe: --extra: expects NAME=VALUE"),
        (["--extra", "language=fr"], "transcribe: --extra: sets 'language'"),
    ],
)
def test_bad_options_are_usage_errors_in_the_commands_words(
    fake: Fake, audio: Path, argv: list[str], message: str
) -> None:
    result = fake.run(audio / "hello.wav", *argv)
    assert result.code == 2
    assert message in result.stderr
    for python_name in ("max_concurrency", "extra_body", "temperature:", "language:", "=..."):
        assert python_name not in result.stderr.replace(message, "")
    assert fake.server.requests == []


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run([])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        cli.run(["a.wav", "--format", "docx"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- options reach the request -----------------------------------------------------------------


def test_routing_and_model_options_reach_the_request(fake: Fake, audio: Path) -> None:
    argv = [
        audio / "hello.wav",
        "--model",
        "whisper-small",
        "--language",
        "fr",
        "--prompt",
        "Bonjour",
        "--temperature",
        "0.3",
        "--provider",
        "ovh",
        "--provider",
        "scaleway",
        "--eu-native",
        "--no-quantization",
        "--preference",
        "cost",
        "--timeout",
        "12.5",
        "--retries",
        "0",
    ]
    assert fake.run(*argv).code == 0
    request = fake.server.requests[0]
    assert request.field("model") == "whisper-small"
    assert request.field("language") == "fr"
    assert request.field("prompt") == "Bonjour"
    assert request.field("temperature") == "0.3"
    assert request.field_list("allowed_providers") == ["ovh", "scaleway"]
    assert [k for k, _ in request.fields if k.startswith("allowed_providers")] == [
        "allowed_providers[]",
        "allowed_providers[]",
    ]
    assert request.field("eu_native") == "true"
    assert request.field("allow_quantization") == "false"
    assert request.field("preference") == "cost"
    assert fake.made == [{"base_url": None, "api_key": None, "max_retries": 0, "timeout": 12.5}]


def test_without_routing_flags_no_routing_fields_are_sent(fake: Fake, audio: Path) -> None:
    assert fake.run(audio / "hello.wav").code == 0
    names = {k for k, _ in fake.server.requests[0].fields}
    assert names == {"model", "response_format"}


def test_local_and_base_url_choose_the_server(fake: Fake, audio: Path) -> None:
    fake.run(audio / "hello.wav", "--local", "--stdout")
    fake.run(audio / "hello.wav", "--base-url", "http://127.0.0.1:9/v1", "--stdout")
    assert [m["base_url"] for m in fake.made] == ["local", "http://127.0.0.1:9/v1"]


def test_split_sends_pieces_and_writes_one_transcript(fake: Fake, tmp_path: Path) -> None:
    source = tmp_path / "long.wav"
    shutil.copy(FIXTURES / "long_speech.wav", source)
    result = fake.run(source, "--split", "--max-chunk-seconds", "25", "--language", "en")
    assert result.code == 0, result.stderr
    assert sent_files(fake.server) == [f"long.part00{i}.wav" for i in range(3)]
    assert {r.field("response_format") for r in fake.server.requests} == {"verbose_json"}
    assert {r.field("language") for r in fake.server.requests} == {"en"}
    assert (tmp_path / "long.wav.txt").read_text() == " ".join([DEFAULT_TEXT] * 3) + "\n"


# -- progress ----------------------------------------------------------------------------------


def test_plain_lines_when_not_a_terminal(fake: Fake, audio: Path) -> None:
    result = fake.run(audio / "hello.wav", audio / "numbers.wav")
    assert "\r" not in result.stderr
    assert "\x1b" not in result.stderr
    lines = result.stderr.splitlines()
    assert sorted(re.sub(r" \(\d/2, [\d.]+ s elapsed\)$", "", line) for line in lines[:2]) == [
        f"done {audio / 'hello.wav'}",
        f"done {audio / 'numbers.wav'}",
    ]
    assert [re.findall(r"\((\d/2), ", line) for line in lines[:2]] == [["1/2"], ["2/2"]]
    assert lines[2].startswith("transcribe: 2 done")


def test_progress_line_on_a_terminal(fake: Fake, audio: Path) -> None:
    fake.server.add_error(400, "broken")
    result = fake.run(audio / "hello.wav", audio / "numbers.wav", "-c", "1", tty=True)
    assert result.code == 1
    draws = [d for d in re.split(r"\r", result.stderr) if d.strip()]
    # redrawn in place: the file in flight, files done of the total, the elapsed time
    assert any(re.search(r"hello\.wav: +0%\|.*\| 0/2 files \[00:\d\d\]$", d) for d in draws)
    assert any(
        re.search(r"numbers\.wav: +50%\|.*\| 1/2 files \[00:\d\d\], 1 failed$", d) for d in draws
    )
    assert re.search(r"100%\|.*\| 2/2 files \[00:\d\d\], 1 failed\n", result.stderr)
    assert f"failed {audio / 'hello.wav'}: " in result.stderr  # a line of its own
    assert "done " not in result.stderr  # no plain lines on a terminal


def test_progress_line_shows_each_file_in_flight(audio: Path) -> None:
    from internals import Progress

    stream = TTY()
    progress = Progress(["a.wav", "b.wav", "c.wav"], stream, quiet=False, concurrency=2)
    try:
        assert progress.in_flight() == ["a.wav", "b.wav"]
        progress.update("b.wav", None)  # b finished first: c started
        assert progress.in_flight() == ["a.wav", "c.wav"]
        assert "a.wav (+1): " in stream.getvalue().rsplit("\r", 1)[-1]
    finally:
        progress.close()
    assert stream.getvalue().endswith("\n")


def test_progress_line_ticks_while_a_file_is_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    from internals import cli_progress as shown

    monkeypatch.setattr(shown, "TICK_SECONDS", 0.01)
    stream = TTY()
    progress = shown.Progress(["long.wav"], stream, quiet=False)
    try:
        for _ in range(500):  # bounded: at most ~5 s
            if stream.getvalue().count("\r") >= 4:
                break
            threading.Event().wait(0.01)
        assert stream.getvalue().count("\r") >= 4  # redrawn with nothing finished
    finally:
        progress.close()


def test_pieces_as_they_finish(fake: Fake, tmp_path: Path) -> None:
    wav = tmp_path / "long.wav"
    shutil.copy(FIXTURES / "numbers.wav", wav)
    plain = fake.run(wav, "--split", "--max-chunk-seconds", "2", "-c", "1")
    assert plain.code == 0, plain.stderr
    pieces = [line for line in plain.stderr.splitlines() if line.startswith("  piece ")]
    assert len(pieces) >= 2
    for count, line in enumerate(pieces, start=1):
        assert re.fullmatch(
            rf"  piece {count} of {re.escape(str(wav))} done \(0:0\d of audio, [\d.]+ s elapsed\)",
            line,
        )
    (tmp_path / "long.wav.txt").unlink()
    terminal = fake.run(wav, "--split", "--max-chunk-seconds", "2", "-c", "1", tty=True)
    assert terminal.code == 0, terminal.stderr
    line = r"long\.wav: +0%\|.*\| 0/1 files \[00:\d\d\], 2 pieces, 0:0\d of audio"
    assert re.search(line, terminal.stderr)


def test_quiet(fake: Fake, audio: Path) -> None:
    result = fake.run(audio / "hello.wav", "-q", tty=True)
    assert result.code == 0
    assert result.stderr == ""
    fake.server.add_error(400, "broken")
    failed = fake.run(audio / "numbers.wav", "-q")
    assert failed.code == 1
    assert "broken" in failed.stderr  # errors and the summary still show
    assert "0 done, 1 failed" in failed.stderr


# -- help --------------------------------------------------------------------------------------


def test_help_mentions_every_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exited:
        cli.run(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    assert len(options) >= 20
    for option in options:
        assert option in text, option
    for word in ("INPUT", "TRANSCRIBE_API_KEY", "TRANSCRIBE_BASE_URL", "Exit status", "examples"):
        assert word in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("transcribe ")


# -- the installed command, end to end with the local engine -----------------------------------


def _command() -> str:
    name = "transcribe.exe" if os.name == "nt" else "transcribe"
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip("the transcribe console script is not installed next to the interpreter")
    return str(path)


def _run_command(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    return subprocess.run(
        [_command(), *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_command_help(tmp_path: Path) -> None:
    done = _run_command("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: transcribe")
    assert "--local" in done.stdout


@pytest.mark.heavy  # the command in a process of its own, on the local engine
def test_command_local_one_file(tmp_path: Path, manifest: dict[str, str]) -> None:
    shutil.copy(FIXTURES / "hello.wav", tmp_path / "hello.wav")
    done = _run_command("--local", "hello.wav", "--output-dir", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    transcript = (tmp_path / "out" / "hello.wav.txt").read_text()
    assert word_error_rate(manifest["hello.wav"], transcript) < 0.35, transcript
    assert "done hello.wav (1/1, " in done.stderr  # plain lines: stderr is a pipe
    assert "transcribe: 1 done, 0 failed, 0 skipped" in done.stderr
    assert done.stdout == ""

    again = _run_command("--local", "hello.wav", "--output-dir", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 done, 0 failed, 1 skipped" in again.stderr
    assert (tmp_path / "out" / "hello.wav.txt").read_text() == transcript


@pytest.mark.heavy  # the command in a process of its own, on the local engine
def test_command_local_folder_with_a_missing_input(audio: Path, manifest: dict[str, str]) -> None:
    done = _run_command("--local", ".", "missing.wav", "--format", "srt", "-c", "2", cwd=audio)
    assert done.returncode == 1, done.stderr
    assert "nothing matches 'missing.wav'" in done.stderr
    assert "3 done, 1 failed" in done.stderr
    expected = {
        "hello.srt": "hello.wav",
        "numbers.srt": "numbers.wav",
        "sub/hello.srt": "hello.mp3",
    }
    for name, source in expected.items():
        srt = (audio / name).read_text()
        assert srt.startswith("1\n00:00:00,000 --> ")
        assert re.search(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", srt)
        words = " ".join(
            line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()
        )
        assert word_error_rate(manifest[source], words) < 0.35, (name, words)
    assert not (audio / "notes.srt").exists()


def test_local_without_the_extra_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    from internals import cli_main as _cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "faster_whisper" else real(name, *a),
    )
    monkeypatch.setattr(resolve("engine_module"), "_ENGINES", {})
    monkeypatch.setattr(resolve("process_module"), "_SHARED", {})  # no engine made earlier
    wav = tmp_path / "a.wav"
    wav.write_bytes((Path(__file__).parent / "fixtures" / "hello.wav").read_bytes())
    out, err = io.StringIO(), io.StringIO()
    assert _cli.run(["--local", str(wav)], stdout=out, stderr=err) == 2
    assert "pip install -e '.[local]'" in err.getvalue()


def test_a_long_name_leaves_room_for_the_rest_of_the_line() -> None:
    from internals import Progress

    stream = TTY()
    long_name = "recordings/" + "very-long-folder-name/" * 8 + "meeting.wav"
    progress = Progress([long_name, "b.wav"], stream, quiet=False)
    try:
        progress.update("b.wav", "broken")
        progress.piece(long_name, 12, 3725.0)
        last = stream.getvalue().rsplit("\r", 1)[-1]
    finally:
        progress.close()
    assert len(last) <= 80  # the width assumed when the terminal reports none
    assert last.startswith("…")
    assert "meeting.wav: " in last  # the end of the name is kept
    assert "1 failed, 12 pieces, 1:02:0" in last  # (tqdm cuts what is past the width)
