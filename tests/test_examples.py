"""Every script in ``examples/`` runs, as a user would run it, and says something sensible.

Each ``examples/*.py`` is found by glob (a new example is covered without touching this file)
and run with this interpreter from the repository root, without ``TRANSCRIBE_API_KEY`` or
``TRANSCRIBE_BASE_URL`` (so the examples choose the local engine) and with the Hugging Face hub
offline. It must exit 0 within 120 s, print to stdout, and print no traceback. The scripts run
a few at a time in the background from the start of this module, each test waiting for its own.

What stdout must say:

- If the example's source names a sample of ``examples/audio/manifest.json`` (as most name
  ``hello.wav``), that sample's transcript must be in it: at least 65% of its words, in order,
  whatever else is printed around and between them (timestamps, labels, subtitle numbers).
- An example can promise more with module-level comments, one per line::

      # example-args: --format srt examples/audio/hello.wav
      # example-expect-transcript: Hello world. This is a test of the transcription client.
      # example-expect-output: ^WEBVTT$
      # example-skip: needs a GPU

  ``expect-transcript``: the whole stdout is that text, within a word error rate of 0.35.
  ``expect-output``: a regular expression found in stdout (multiline mode).
  :data:`PROMISES` holds the same for examples that do not carry the comments themselves.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from wer import in_order_recall, word_error_rate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
SAMPLES: dict[str, str] = json.loads((ROOT / "examples" / "audio" / "manifest.json").read_text())
TIMEOUT = 120
MAX_WER = 0.35
AT_ONCE = 2
"""Examples run at the same time (each loads its own model; more would only queue for CPU)."""
PROMISES = {
    # quickstart prints the transcript and nothing else to stdout.
    "quickstart.py": f"# example-expect-transcript: {SAMPLES['hello.wav']}",
}
_DIRECTIVE = re.compile(r"^# example-([a-z-]+):[ \t]*(.*?)[ \t]*$", re.MULTILINE)


@dataclass
class Expectation:
    args: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)
    skip: str | None = None


def expectation_of(source: str) -> Expectation:
    """What an example's comments, or failing those the samples it names, promise."""
    expected = Expectation()
    for key, value in _DIRECTIVE.findall(source):
        if key == "args":
            expected.args += shlex.split(value)
        elif key == "expect-transcript":
            expected.transcripts.append(value)
        elif key == "expect-output":
            expected.patterns.append(value)
        elif key == "skip":
            expected.skip = value or "skipped by its own comment"
        else:
            raise AssertionError(f"unknown directive '# example-{key}:'")
    if not expected.transcripts and not expected.patterns:
        expected.contains = [
            text
            for name, text in SAMPLES.items()
            if text and re.search(rf"(?<![\w.-]){re.escape(name)}\b", source)
        ]
    return expected


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run_example(script: Path, args: list[str]) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _source(script: Path) -> str:
    return PROMISES.get(script.name, "") + "\n" + script.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> Iterator[dict[Path, Future[Run]]]:
    """Every selected example, started in the background when the first one is needed."""
    selected = [
        item.callspec.params["script"]
        for item in request.session.items
        if getattr(item, "function", None) is test_example_runs
    ]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        started = {}
        for script in selected:
            expected = expectation_of(_source(script))
            if not expected.skip:
                started[script] = pool.submit(run_example, script, expected.args)
        yield started


def test_examples_are_found() -> None:
    assert "quickstart.py" in [p.name for p in EXAMPLES]


def test_directives_are_read() -> None:
    source = (
        '"""Doc."""\n'
        "# example-args: --format 'srt' a.wav\n"
        "# example-expect-output: ^WEBVTT$\n"
        "x = 'hello.wav'\n"
    )
    expected = expectation_of(source)
    assert expected.args == ["--format", "srt", "a.wav"]
    assert expected.patterns == ["^WEBVTT$"]
    assert expected.contains == []  # an explicit promise replaces the guess from the samples
    assert expectation_of("x = 'hello.wav'\n").contains == [SAMPLES["hello.wav"]]
    assert expectation_of("x = 'othello.wav'\n").contains == []
    assert expectation_of("print('hi')\n") == Expectation()
    with pytest.raises(AssertionError, match="unknown directive"):
        expectation_of("# example-expect: typo\n")


@pytest.mark.heavy  # each example in a process of its own, most on the local engine
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path, runs: dict[Path, Future[Run]]) -> None:
    expected = expectation_of(_source(script))
    if expected.skip:
        pytest.skip(expected.skip)
    done = runs[script].result()
    assert done.returncode == 0, done
    assert "Traceback (most recent call last)" not in done.stderr, done
    assert done.stdout.strip(), done
    for transcript in expected.transcripts:
        rate = word_error_rate(transcript, done.stdout)
        assert rate < MAX_WER, f"WER {rate:.2f} against {transcript!r}\n{done}"
    for text in expected.contains:
        recall = in_order_recall(text, done.stdout)
        assert recall >= 1 - MAX_WER, f"only {recall:.0%} of {text!r} is in the output\n{done}"
    for pattern in expected.patterns:
        assert re.search(pattern, done.stdout, re.MULTILINE), f"no match for {pattern!r}\n{done}"


def test_quickstart_says_on_stderr_why_the_local_model_differs() -> None:
    done = run_example(ROOT / "examples" / "quickstart.py", [])
    assert done.returncode == 0, done
    assert len(done.stdout.splitlines()) == 1, done  # the transcript only
    note = " ".join(done.stderr.split())
    assert "model tiny.en" in note
    assert "the local engine ran offline: it runs its own model, tiny.en" in note, done
