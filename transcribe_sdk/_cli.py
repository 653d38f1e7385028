"""The ``transcribe`` command: many files in, one transcript file out for each.

    transcribe talk.mp3 interviews/ "calls/*.wav" --format srt --output-dir subs/

Inputs are files, folders (searched for audio files, recursively) and glob patterns. Each
transcript is written next to its input, or under ``--output-dir``; one that already exists is
skipped unless ``--overwrite``. On a terminal a progress bar is drawn on stderr; otherwise one
line per file. The exit code is 0 when every file succeeded, 1 when any failed, 2 for a usage
or configuration error.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._base import ENV_API_KEY, ENV_BASE_URL
from ._batch import BatchResult
from ._client import Client
from ._formats import CONTENT_TYPES
from ._params import PREFERENCES, RESPONSE_FORMATS
from ._version import __version__
from .errors import InvalidInputError, TranscribeError
from .models import Transcription

EXTENSIONS = {"json": "json", "verbose_json": "json", "text": "txt", "srt": "srt", "vtt": "vtt"}
_AUDIO_SUFFIXES = {f".{ext}" for ext in CONTENT_TYPES}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transcribe",
        description="Transcribe audio files with an OpenAI-compatible speech-to-text API\n"
        "(the cortecs.ai router by default), or offline with --local.",
        epilog=f"The API key comes from ${ENV_API_KEY}; the server from ${ENV_BASE_URL} or\n"
        "--base-url. Exit status: 0 all done, 1 some files failed, 2 usage error.\n\n"
        "examples:\n"
        "  transcribe talk.mp3\n"
        "  transcribe recordings/ --format srt --output-dir subtitles/\n"
        '  transcribe "calls/*.wav" --eu-native --provider ovh --provider scaleway\n'
        "  transcribe --local examples/audio/hello.wav --stdout",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio files, folders (searched recursively) or glob patterns",
    )
    parser.add_argument(
        "-m", "--model", default="whisper-large-v3", help="model to use (default: %(default)s)"
    )
    parser.add_argument("-l", "--language", help="language of the audio, ISO-639-1 (en, fr, de)")
    parser.add_argument(
        "-f",
        "--format",
        default="text",
        choices=RESPONSE_FORMATS,
        help="output format (default: %(default)s)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        help="where to write transcripts (default: next to each input)",
    )
    parser.add_argument(
        "--stdout",
        action="store_true",
        help="print transcripts to standard output instead of writing files",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=4,
        help="files transcribed at once (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing transcripts")
    parser.add_argument("--prompt", help="text to guide the model's style or vocabulary")
    parser.add_argument("--temperature", type=float, help="sampling temperature, 0 to 1")
    routing = parser.add_argument_group("routing (cortecs.ai router)")
    routing.add_argument(
        "--preference",
        choices=PREFERENCES,
        help="what the router optimises for (router default: balanced)",
    )
    routing.add_argument(
        "--provider",
        action="append",
        dest="providers",
        metavar="NAME",
        help="allow this provider (repeat for several); others are excluded",
    )
    routing.add_argument(
        "--eu-native",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only providers based and regulated in the EU (--no-eu-native: any provider)",
    )
    routing.add_argument(
        "--zero-data-retention",
        action="store_true",
        help="only providers that keep no data (allow_zero_data_retention)",
    )
    routing.add_argument(
        "--model-fallback",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="allow another model when the one asked for is unavailable",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="send another form field to the provider (repeat a NAME to send a list)",
    )
    routing.add_argument(
        "--no-quantization",
        action="store_true",
        help="do not let quantized endpoints serve the request",
    )
    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--local",
        action="store_true",
        help="transcribe on this machine (needs transcribe-sdk[local]); no key needed",
    )
    conn.add_argument("--base-url", help=f"API base URL (default: ${ENV_BASE_URL} or the router)")
    conn.add_argument("--timeout", type=float, help="seconds to wait for each request")
    conn.add_argument("--retries", type=int, default=2, help="retries per file (default: 2)")
    conn.add_argument(
        "--deadline",
        type=float,
        help="give up on a request after this many seconds, retries included (with --split: "
        "on each piece)",
    )
    longer = parser.add_argument_group("long audio")
    longer.add_argument(
        "--split",
        action="store_true",
        help="split files over --max-chunk-mb or --max-chunk-seconds into pieces "
        "(needs transcribe-sdk[split])",
    )
    longer.add_argument(
        "--max-chunk-mb",
        type=float,
        default=25.0,
        help="largest piece to upload, in MB (default: %(default)s)",
    )
    longer.add_argument("--max-chunk-seconds", type=float, help="longest piece, in seconds")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, only errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def find_inputs(patterns: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Expand files, folders and globs into audio files (sorted, once each); and the patterns
    that matched nothing."""
    found: dict[Path, None] = {}
    missing: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _AUDIO_SUFFIXES)
        elif path.exists():
            files = [path]
        else:
            files = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
            files = [p for p in files if p.is_file()]
        if not files:
            missing.append(pattern)
        for file in files:
            found.setdefault(file, None)
    return list(found), missing


def output_paths(sources: Sequence[Path], fmt: str, output_dir: Path | None) -> dict[Path, Path]:
    """Where each input's transcript goes: ``talk.mp3`` -> ``talk.srt``; inputs that would
    share a name (``talk.mp3``, ``talk.wav``) keep their extension (``talk.mp3.srt``); and
    any still shared (``a/talk.wav``, ``b/talk.wav`` into one ``--output-dir``) are numbered
    in input order (``talk.wav.srt``, ``talk.wav-2.srt``), so no transcript replaces another."""

    def target(source: Path, keep_suffix: bool) -> Path:
        folder = output_dir if output_dir is not None else source.parent
        name = source.name if keep_suffix else source.stem
        return folder / f"{name}.{EXTENSIONS[fmt]}"

    counts: dict[Path, int] = {}
    for source in sources:
        plain = target(source, False)
        counts[plain] = counts.get(plain, 0) + 1
    targets: dict[Path, Path] = {}
    taken: set[Path] = set()
    for source in sources:
        path = candidate = target(source, counts[target(source, False)] > 1)
        number = 1
        while candidate in taken:
            number += 1
            candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        taken.add(candidate)
        targets[source] = candidate
    return targets


def render(result: Any) -> str:
    if isinstance(result, Transcription):
        return result.model_dump_json(indent=2, exclude_none=True) + "\n"
    text = str(result)
    return text if text.endswith("\n") else text + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)  # a stopped run never leaves a half-written transcript


class Progress:
    """A bar on a terminal, plain lines elsewhere, nothing with ``quiet`` (errors still show)."""

    def __init__(self, total: int, stream: TextIO, quiet: bool) -> None:
        self.total, self.stream, self.quiet = total, stream, quiet
        self.tty = stream.isatty() and not quiet
        self.done = self.failed = 0

    def update(self, name: str, error: TranscribeError | None) -> None:
        self.done += 1
        self.failed += error is not None
        if self.tty:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
            if self.failed:
                line += f", {self.failed} failed"
            if error is not None:
                self.stream.write(f"\r\x1b[Kfailed {name}: {error}\n")
            self.stream.write(line)
            if self.done == self.total:
                self.stream.write("\n")
        elif error is not None:
            self.stream.write(f"failed {name}: {error}\n")
        elif not self.quiet:
            self.stream.write(f"done {name} ({self.done}/{self.total})\n")
        self.stream.flush()


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "language": args.language,
        "prompt": args.prompt,
        "temperature": args.temperature,
        "preference": args.preference,
        "allowed_providers": args.providers,
        "eu_native": args.eu_native,
        "allow_quantization": False if args.no_quantization else None,
        "allow_zero_data_retention": True if args.zero_data_retention else None,
        "enable_model_fallback": args.model_fallback,
        "deadline": args.deadline,
        "extra_body": parse_extra(args.extra) or None,
    }
    return {k: v for k, v in options.items() if v is not None}


def parse_extra(pairs: Sequence[str]) -> dict[str, str | list[str]]:
    """``["vad=true", "tag=a", "tag=b"]`` -> ``{"vad": "true", "tag": ["a", "b"]}``."""
    extra: dict[str, str | list[str]] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise InvalidInputError("--extra", f"expects NAME=VALUE, not {pair!r}")
        name = name.strip()
        if name in extra:
            previous = extra[name]
            extra[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            extra[name] = value
    return extra


def run(
    argv: Sequence[str] | None = None, *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    """The command, callable from Python; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    files, missing = find_inputs(args.inputs)
    for pattern in missing:
        stderr.write(f"transcribe: nothing matches {pattern!r}\n")
    if not files:  # every input failed to match: failed files, not a usage error
        stderr.write(f"transcribe: 0 done, {len(missing)} failed, no audio files found\n")
        return 1
    targets = output_paths(files, args.format, args.output_dir)
    todo, skipped = [], 0
    for file in files:
        if not args.stdout and not args.overwrite and targets[file].exists():
            skipped += 1
        else:
            todo.append(file)
    base_url = "local" if args.local else args.base_url
    try:
        client = Client(base_url=base_url, max_retries=args.retries, timeout=args.timeout)
    except TranscribeError as exc:  # no key, a bad option, the local extra missing, ...
        stderr.write(f"transcribe: {exc}\n")
        return 2

    def deliver(item: BatchResult[Any]) -> None:
        # Written as each file finishes, so an interrupted run keeps its work and the next
        # run skips it.
        progress.update(str(item.input), item.error)
        if item.error is None and not args.stdout:
            _write(targets[item.input], render(item.result))

    progress = Progress(len(todo), stderr, args.quiet)
    started = time.monotonic()
    results: list[BatchResult[Any]] = []
    try:
        with client:
            results = _transcribe_all(client, todo, args, progress, deliver)
    except InvalidInputError as exc:  # an option rejected before any file was sent
        stderr.write(f"transcribe: {exc}\n")
        return 2
    except KeyboardInterrupt:
        stderr.write("\ntranscribe: interrupted\n")
        return 130
    failed = len(missing)
    for item in results:
        if item.error is not None:
            failed += 1
        elif args.stdout:  # in input order, once all are done
            stdout.write(render(item.result))
    elapsed = time.monotonic() - started
    if not args.quiet or failed:
        stderr.write(
            f"transcribe: {len(results) + len(missing) - failed} done, {failed} failed, "
            f"{skipped} skipped "
            f"(existing; --overwrite to redo) in {elapsed:.1f} s\n"
        )
    return 1 if failed else 0


def _transcribe_all(
    client: Client,
    files: list[Path],
    args: argparse.Namespace,
    progress: Progress,
    deliver: Callable[[BatchResult[Any]], None],
) -> list[BatchResult[Any]]:
    options = _options(args)
    if not args.split:
        return client.transcribe_many(
            files,
            model=args.model,
            response_format=args.format,
            max_concurrency=args.concurrency,
            on_progress=lambda _done, _total, item: deliver(item),
            **options,
        )
    results: list[BatchResult[Any]] = []
    for index, file in enumerate(files):  # pieces of one file run concurrently instead
        try:
            value = client.transcribe_long(
                file,
                model=args.model,
                response_format=args.format,
                max_chunk_bytes=int(args.max_chunk_mb * 1_000_000),
                max_chunk_seconds=args.max_chunk_seconds,
                max_concurrency=args.concurrency,
                **options,
            )
            item: BatchResult[Any] = BatchResult(index, file, result=value)
        except InvalidInputError as exc:
            if exc.param != "file":
                raise
            item = BatchResult(index, file, error=exc)
        except TranscribeError as exc:
            item = BatchResult(index, file, error=exc)
        results.append(item)
        deliver(item)
    return results


def main() -> None:
    """Console entry point of ``transcribe``."""
    raise SystemExit(run())
