"""The ``transcribe`` command: many files in, one transcript file out for each.

    transcribe talk.mp3 interviews/ "calls/*.wav" --format srt --output-dir subs/

Inputs are files, folders (searched for audio files, recursively) and glob patterns, or ``-``
alone for audio on standard input (its transcript goes to standard output). Each transcript is
written next to its input, or under ``--output-dir`` (the naming rule is in
:mod:`transcribe_sdk.cli._output`); one that already exists is skipped unless ``--overwrite``.
Progress goes to stderr (:mod:`transcribe_sdk.cli._progress`). The exit code is 0 when every
file succeeded, 1 when any failed, 2 for a usage or configuration error, 130 when stopped with
Ctrl+C.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from .._client.batch import BatchResult
from .._client.client import Client
from .._formats import CONTENT_TYPES
from .._languages import ISO_639_1
from ..errors import InvalidInputError, TranscribeError
from ._args import MIN_CHUNK_MB, build_parser, call_options, parse_extra
from ._output import (
    EXTENSIONS,
    asked_format,
    blocked,
    check_writable,
    cli_message,
    conflicts,
    output_paths,
    printable,
    relative_to_argument,
    render,
    stdout_text,
    subtitles,
    write_atomically,
)
from ._progress import Progress

__all__ = ["EXTENSIONS", "find_inputs", "main", "output_paths", "parse_extra", "render", "run"]

_AUDIO_SUFFIXES = {f".{ext}" for ext in CONTENT_TYPES}
_MAGIC = re.compile(r"[*?[]")
EXIT_INTERRUPTED = 130
STOP_AFTER_INTERRUPT = 0.5
"""Seconds a stopped run waits for its client to close (the local engine's model to stop at
its next segment) before the command ends without it."""
STDIN = Path("-")
"""The input ``-``: audio read from standard input."""


def find_inputs(patterns: Sequence[str]) -> tuple[dict[Path, Path], list[str]]:
    """Expand files, folders and globs into audio files, once each (a file reached twice, by
    another spelling or a link, counts once), each with its path relative to the argument
    that found it (a folder: inside it; a file: its name; a glob: below its fixed part);
    and the patterns that matched nothing."""
    found: dict[Path, Path] = {}
    seen: set[Path] = set()
    missing: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _AUDIO_SUFFIXES)
            relative = relative_to_argument(files, path)
        elif path.exists():
            files = [path]
            relative = {path: Path(path.name)}
        else:
            files = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
            files = [p for p in files if p.is_file()]
            fixed = []
            for part in path.parts:
                if _MAGIC.search(part):
                    break
                fixed.append(part)
            relative = relative_to_argument(files, Path(*fixed))
        if not files:
            missing.append(pattern)
        for file in files:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                found[file] = relative[file]
    return found, missing


@contextmanager
def _second_interrupt_kills(active: bool) -> Iterator[None]:
    """While a stopped run tidies up, a second Ctrl+C ends the process at once."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Run:
    """One run's bookkeeping: what finished, what was written, what failed."""

    def __init__(self, args: argparse.Namespace, targets: dict[Path, Path], progress: Progress):
        self.args, self.targets, self.progress = args, targets, progress
        self.finished: dict[Path, BatchResult[Any]] = {}
        self.failed: set[Path] = set()
        self.written: set[Path] = set()

    def deliver(self, item: BatchResult[Any]) -> None:
        # Written as each file finishes, so a stopped run keeps its work and the next skips it.
        if item.error is None and asked_format(self.args) != self.args.format:
            item = BatchResult(item.index, item.input, subtitles(self.args, item.result))
        self.finished[item.input] = item
        problem = None if item.error is None else cli_message(item.error)
        if problem is None and not self.args.stdout:
            problem = self.write(item)
        if problem is not None:
            self.failed.add(item.input)
        self.progress.update(str(item.input), problem)

    def write(self, item: BatchResult[Any]) -> str | None:
        target = self.targets[item.input]
        try:
            write_atomically(target, render(item.result))
        except OSError as exc:
            return printable(f"cannot write {target}: {exc.strerror or exc}")
        self.written.add(item.input)
        return None

    def write_the_rest(self) -> None:
        """After Ctrl+C: a file that finished while its transcript was being written."""
        for source, item in self.finished.items():
            unwritten = item.error is None and source not in self.written
            if unwritten and not self.args.stdout and self.write(item) is not None:
                self.failed.add(source)


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
    stdin: BinaryIO | None = None,
) -> int:
    """The command, callable from Python; returns the exit code. ``stdin`` is where the input
    ``-`` is read from (default: the process's standard input)."""
    args = build_parser().parse_args(argv)
    if args.split and args.max_chunk_mb < MIN_CHUNK_MB:
        stderr.write(f"transcribe: --max-chunk-mb: must be at least {MIN_CHUNK_MB} (64 KiB)\n")
        return 2
    if str(STDIN) in args.inputs:
        source = sys.stdin.buffer if stdin is None else stdin
        problem = _stdin_problem(args, source)
        if problem is not None:
            stderr.write(f"transcribe: {problem}\n")
            return 2
        args.stdout, args.stdin = True, source
        sources: dict[Path, Path] = {STDIN: STDIN}
        missing: list[str] = []
    else:
        sources, missing = find_inputs(args.inputs)
    for pattern in missing:
        stderr.write(f"transcribe: nothing matches {printable(repr(pattern))}\n")
    if not sources:  # every input failed to match: failed files, not a usage error
        stderr.write(f"transcribe: 0 done, {len(missing)} failed, no audio files found\n")
        return 1
    base_url = "local" if args.local else args.base_url
    api_key = "" if args.no_auth else args.api_key
    try:
        client = Client(
            base_url=base_url, api_key=api_key, max_retries=args.retries, timeout=args.timeout
        )
    except TranscribeError as exc:  # no key, a bad option, the local extra missing, ...
        stderr.write(f"transcribe: {cli_message(exc)}\n")
        return 2
    code = EXIT_INTERRUPTED  # until a code comes back: Ctrl+C (or anything raised) leaves it
    try:
        if args.output_dir is not None and not args.stdout:
            why = check_writable(args.output_dir)
            if why is not None:
                stderr.write(f"transcribe: -o/--output-dir: {printable(why)}\n")
                code = 2
                return code
        code = _run(
            client, args=args, sources=sources, missing=len(missing), stdout=stdout, stderr=stderr
        )
        return code
    finally:
        if code == EXIT_INTERRUPTED:
            close_within(client, STOP_AFTER_INTERRUPT)
        else:
            client.close()


def close_within(client: Client, wait: float) -> bool:
    """Close ``client``, waiting at most ``wait`` seconds; whether it finished closing.

    Closing a local-engine client stops its transcriptions at their next segment and waits for
    them, which takes as long as the model's current window (seconds on a small CPU). A stopped
    run does not need that: the stop is asked for at once, and :func:`main` then ends the
    process without the interpreter's teardown, so the model's threads cannot abort it. Called
    from Python, the closing goes on in the background and ends on its own.
    """
    closer = threading.Thread(target=client.close, name="transcribe-close", daemon=True)
    closer.start()
    closer.join(wait)
    return not closer.is_alive()


def _stdin_problem(args: argparse.Namespace, source: BinaryIO) -> str | None:
    """Why ``-`` cannot be read as asked, or ``None``."""
    if len(args.inputs) > 1:
        return "-: standard input must be the only INPUT"
    if args.output_dir is not None:
        return "-o/--output-dir: not with - (the transcript of standard input goes to stdout)"
    if source.isatty():
        return "-: standard input is a terminal; pipe the audio in (transcribe - < talk.mp3)"
    return None


def _local_language_problem(client: Client, args: argparse.Namespace) -> str | None:
    """With the local engine and ``--language`` other than English: why the model that would
    run cannot do it (an English-only model), checked once rather than failing every file."""
    local = client.local_model
    if local is None or args.language is None or args.language == "en":
        return None
    if args.language not in ISO_639_1:
        return None  # refused by the library's own check, in its words
    from ..local._process import client_engine

    engine = client_engine(local or None)
    name = engine.resolve(args.model)
    if not english_only(engine, name):
        return None
    return (
        f"-l/--language {args.language}: the local model {name!r} only transcribes English; "
        "use -l en, or a multilingual local model such as --base-url local://small "
        "(downloaded on first use)"
    )


def _local_model_problem(client: Client, args: argparse.Namespace, stderr: TextIO) -> str | None:
    """With the local engine: load the model the files would use, once, before any file (a
    model that cannot load is one problem of the model or the machine, not one per file), and
    say which ``-m`` was taken by name while a folder of that name sits here."""
    local = client.local_model
    if local is None:
        return None
    from ..local._models import model_folder
    from ..local._process import client_engine
    from ..local._results import ModelLoadError

    engine = client_engine(local or None)
    name = engine.resolve(args.model)
    if name == args.model and Path(name).is_dir() and not model_folder(name):
        stderr.write(
            f"transcribe: note: -m/--model {name} is faster-whisper's model {name!r}, not the "
            f"folder {name}/ here; write -m ./{name} for the folder\n"
        )
    try:
        engine.check_model(name)
    except ModelLoadError as exc:
        return f"-m/--model {args.model}: {printable(str(exc))}"
    return None


def english_only(engine: Any, name: str) -> bool:
    """Whether the local model ``name`` transcribes English only: a ``.en`` name says so;
    otherwise the model is loaded (as the first file would) and asked."""
    if name.endswith(".en"):
        return True
    try:
        return not engine.check_model(name)
    except Exception:  # a model that cannot load fails each file with its own message
        return False


def _run(
    client: Client,
    *,
    args: argparse.Namespace,
    sources: dict[Path, Path],
    missing: int,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    targets = output_paths(sources, args.format, args.output_dir)
    refused = {} if args.stdout else conflicts(targets)
    todo, skipped = [], 0
    for file, target in targets.items():
        if file in refused:
            continue
        if not args.stdout and os.path.lexists(target):
            problem = blocked(target, args.overwrite)
            if problem is not None:
                refused[file] = problem
                continue
            if not args.overwrite:
                skipped += 1
                continue
        todo.append(file)
    if todo:
        problem = _local_model_problem(client, args, stderr) or _local_language_problem(
            client, args
        )
        if problem is not None:
            stderr.write(f"transcribe: {problem}\n")
            return 2
    concurrency = 1 if args.split else args.concurrency  # --split: one file after another
    progress = Progress([str(f) for f in todo], stderr, args.quiet, concurrency=concurrency)
    for file, why in refused.items():
        progress.fail(str(file), printable(why))
    state = _Run(args, targets, progress)
    started = time.monotonic()
    interrupted = False
    try:
        _transcribe_all(client, todo, args, state.deliver, progress)
    except InvalidInputError as exc:  # an option rejected before any file was sent
        progress.close()
        stderr.write(f"transcribe: {cli_message(exc)}\n")
        return 2
    except KeyboardInterrupt:
        interrupted = True
    with _second_interrupt_kills(interrupted):
        progress.close()
        if interrupted:
            state.write_the_rest()
        failed = missing + len(refused) + len(state.failed)
        done = len(state.finished) - len(state.failed)
        if args.stdout:
            results = [
                (file, item.result)
                for file, item in ((f, state.finished.get(f)) for f in todo)  # in input order
                if item is not None and item.error is None
            ]
            text = stdout_text(results, args.format, several=len(sources) > 1)
            stdout.write(printable(text, keep="\n\t") if stdout.isatty() else text)
        stdout.flush()
        elapsed = time.monotonic() - started
        if interrupted:
            stderr.write(
                f"transcribe: interrupted: {done} done, {failed} failed, "
                f"{len(todo) - len(state.finished)} not finished, {skipped} skipped in "
                f"{elapsed:.1f} s (run the same command again to finish)\n"
            )
            return EXIT_INTERRUPTED
        if not args.quiet or failed:
            stderr.write(
                f"transcribe: {done} done, {failed} failed, {skipped} skipped "
                f"(existing; --overwrite to redo) in {elapsed:.1f} s\n"
            )
    return 1 if failed else 0


@contextmanager
def _decoding_shown(client: Client, progress: Progress) -> Iterator[None]:
    """On the local engine, the progress moves within each file as the model decodes it."""
    if client.local_model is None:
        yield
        return
    from ..local._progress import decoding_progress

    with decoding_progress(progress.decoding):
        yield


def _transcribe_all(
    client: Client,
    files: list[Path],
    args: argparse.Namespace,
    deliver: Callable[[BatchResult[Any]], None],
    progress: Progress,
) -> None:
    options = call_options(args)
    if args.ray is not None:
        if STDIN in files:
            raise InvalidInputError("--ray", "reads files by path; standard input (-) cannot go")
        from ._ray import transcribe_args_on_ray

        transcribe_args_on_ray(files, args, options, deliver, say=progress.note)
        return
    # The input "-" is sent as standard input's bytes, named "stdin" (its format is sniffed).
    sent = [("stdin", args.stdin) if file is STDIN else file for file in files]
    if not args.split:
        with _decoding_shown(client, progress):
            client.transcribe_many(
                sent,
                model=args.model,
                response_format=asked_format(args),
                max_concurrency=args.concurrency,
                on_progress=lambda _done, _total, item: deliver(
                    BatchResult(item.index, files[item.index], item.result, item.error)
                ),
                **options,
            )
        return
    for index, (file, source) in enumerate(zip(files, sent, strict=True)):
        # Pieces of one file run concurrently instead.
        def piece(count: int, seconds: float, name: str = str(file)) -> None:
            progress.piece(name, count, seconds)

        try:
            value = client.transcribe_long(
                source,
                model=args.model,
                response_format=asked_format(args),
                max_chunk_bytes=int(args.max_chunk_mb * 1_000_000),
                max_chunk_seconds=args.max_chunk_seconds,
                max_concurrency=args.concurrency,
                on_progress=piece,
                **options,
            )
            item: BatchResult[Any] = BatchResult(index, file, result=value)
        except InvalidInputError as exc:
            if exc.param != "file":
                raise
            item = BatchResult(index, file, error=exc)
        except TranscribeError as exc:
            item = BatchResult(index, file, error=exc)
        deliver(item)


def main() -> None:
    """Console entry point of ``transcribe``."""
    try:
        code = run()
    except KeyboardInterrupt:  # before or after the batch: nothing of it to report
        sys.stderr.write("\ntranscribe: interrupted\n")
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        # Requests still in flight (a worker thread mid-upload) must not hold the exit.
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    raise SystemExit(code)
