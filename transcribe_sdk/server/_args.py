"""``transcribe-sdk serve``'s command line: its flags, and the settings they make.

Every flag is checked here, before anything loads: a bad value is one line on stderr and exit
code :data:`STARTUP_ERROR`, as every other start-up failure is (:class:`StartupError`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, NoReturn

from .._version import __version__
from ..local._batched import BATCH_UNIT_MB, MAX_BATCH_SIZE
from ..local._engine import check_batch_size
from ..local._options import MAX_CPU_THREADS, check_cpu_threads
from ._settings import MiB, ServerSettings

KEY_ENV = "TRANSCRIBE_SERVER_API_KEY"
STARTUP_ERROR = 2


class StartupError(Exception):
    """Something that stops the server before it listens; the message is the one line."""


def _positive(kind: type) -> Any:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {raw!r}")
        return value

    return parse


def _batch_size(raw: str) -> int:
    try:
        return check_batch_size(int(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_BATCH_SIZE}, not {raw!r}"
        ) from None


def _threads(raw: str) -> int:
    try:
        return check_cpu_threads(int(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a whole number of threads from 0 (automatic) to {MAX_CPU_THREADS}, not {raw!r}"
        ) from None


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(STARTUP_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    d = ServerSettings()
    parser = _Parser(
        prog="transcribe-sdk",
        description="Tools of transcribe-sdk. 'serve' runs the local Whisper engine as an "
        "OpenAI-compatible HTTP server (POST /v1/audio/transcriptions).",
    )
    parser.add_argument("--version", action="version", version=f"transcribe-sdk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the local engine over HTTP",
        description="Serve the local Whisper engine as an OpenAI-compatible HTTP server.",
    )
    serve.add_argument("--version", action="version", version=f"transcribe-sdk {__version__}")
    add = serve.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", type=_port, default=8000, help="port (default 8000; 0 = any free)")
    add("--model", default=None, help="faster-whisper model name or folder (default tiny.en)")
    add(
        "--workers",
        type=_positive(int),
        default=1,
        help="server processes, each with its own model and --concurrency (default 1)",
    )
    add(
        "--api-key-file",
        type=Path,
        default=None,
        help=f"require the bearer key in this file (default: ${KEY_ENV}, or no auth)",
    )
    add(
        "--api-key",
        default=None,
        help="require this bearer key; visible to other users in the process list, so "
        "prefer --api-key-file or the environment variable",
    )
    add(
        "--max-upload-mb",
        type=_positive(float),
        default=d.max_upload_bytes / MiB,
        help=f"largest request body in MiB (default {d.max_upload_bytes // MiB})",
    )
    add(
        "--max-audio-seconds",
        type=_positive(float),
        default=d.max_audio_seconds,
        help=f"longest audio transcribed (default {d.max_audio_seconds:g})",
    )
    add(
        "--concurrency",
        type=_positive(int),
        default=d.concurrency,
        help=f"transcriptions at once per worker (default {d.concurrency})",
    )
    add(
        "--cpu-threads",
        type=_threads,
        default=d.cpu_threads,
        help="threads each transcription slot decodes with, up to 1024 (default 0: "
        "CTranslate2's own default, or OMP_NUM_THREADS)",
    )
    add(
        "--batch-size",
        type=_batch_size,
        default=d.batch_size,
        help=f"voice-active windows of a request decoded together, 1 to {MAX_BATCH_SIZE} "
        f"(default {d.batch_size}; 1: sequential decoding); each unit costs about "
        f"{BATCH_UNIT_MB} MB with tiny.en",
    )
    add(
        "--queue-timeout",
        type=_positive(float),
        default=d.queue_timeout,
        help=f"seconds a request waits for a slot before a 503 (default {d.queue_timeout:g})",
    )
    add(
        "--max-connections",
        type=_positive(int),
        default=d.max_connections,
        help="open connections (idle ones too) before a new request gets a 503; "
        f"transcriptions are bounded by --concurrency (default {d.max_connections})",
    )
    add(
        "--body-timeout",
        type=_positive(float),
        default=d.body_timeout,
        help=f"seconds between two pieces of a body before a 408 (default {d.body_timeout:g})",
    )
    add(
        "--body-total-timeout",
        type=_positive(float),
        default=d.body_total_timeout,
        help=f"seconds a whole body may take to arrive before a 408 (default "
        f"{d.body_total_timeout:g})",
    )
    add(
        "--header-timeout",
        type=_positive(float),
        default=d.header_timeout,
        help="seconds a keep-alive connection may sit idle after an answer, rounded up to "
        f"whole seconds (default {d.header_timeout:g}); it does not bound the time to send "
        "a request head",
    )
    add(
        "--max-header-kb",
        type=_positive(int),
        default=d.max_header_bytes // 1024,
        help=f"largest request head in KiB (default {d.max_header_bytes // 1024})",
    )
    add(
        "--shutdown-timeout",
        type=_positive(float),
        default=d.shutdown_timeout,
        help="on Ctrl+C/SIGTERM, seconds in-flight requests get before they are cancelled "
        f"(default {d.shutdown_timeout:g})",
    )
    return parser


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key is not None:
        key = args.api_key.strip()
    elif args.api_key_file is not None:
        try:
            key = args.api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StartupError(f"cannot read --api-key-file: {exc}") from None
        if not key:
            raise StartupError(f"--api-key-file {args.api_key_file} is empty")
    else:
        key = os.environ.get(KEY_ENV, "").strip()
    return key or None


def settings_from(args: argparse.Namespace) -> ServerSettings:
    return ServerSettings(
        model=args.model,
        api_key=_api_key(args),
        max_upload_bytes=int(args.max_upload_mb * MiB),
        max_audio_seconds=args.max_audio_seconds,
        concurrency=args.concurrency,
        cpu_threads=args.cpu_threads,
        batch_size=args.batch_size,
        queue_timeout=args.queue_timeout,
        max_connections=args.max_connections,
        body_timeout=args.body_timeout,
        body_total_timeout=args.body_total_timeout,
        header_timeout=args.header_timeout,
        max_header_bytes=args.max_header_kb * 1024,
        shutdown_timeout=args.shutdown_timeout,
    )
