"""The ``transcribe`` command's flags: the parser, checks on numbers, and the call options
the flags become."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._client.options import ENV_API_KEY, ENV_BASE_URL
from .._client.params import PREFERENCES, RESPONSE_FORMATS
from .._formats import SUBTITLE_FORMATS
from .._version import __version__
from ..errors import InvalidInputError

# diarized_json needs a diarizing model and has no file type of its own yet
CLI_FORMATS = tuple(f for f in RESPONSE_FORMATS if f != "diarized_json")


def _number(kind: type, *, low: float, low_ok: bool) -> Callable[[str], Any]:
    """An argparse type: a finite number above ``low`` (or at it, with ``low_ok``)."""
    wanted = ("an integer" if kind is int else "a number") + (
        f" of {low:g} or more" if low_ok else f" above {low:g}"
    )

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expects {wanted}, not {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(f"expects {wanted}, not {text!r}")
        return value

    parse.__name__ = kind.__name__  # what argparse names in its own messages
    return parse


_positive = _number(float, low=0, low_ok=False)
_count = _number(int, low=1, low_ok=True)
_retries = _number(int, low=0, low_ok=True)
_seconds = _number(float, low=0, low_ok=True)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expects a finite number, not {text!r}")
    return value


MIN_CHUNK_MB = 0.065536  # the library's smallest piece, 64 KiB


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transcribe",
        description="Transcribe audio files with an OpenAI-compatible speech-to-text API\n"
        "(the cortecs.ai router by default), or offline with --local.",
        epilog=f"The API key comes from ${ENV_API_KEY} (or --api-key); the server from\n"
        f"${ENV_BASE_URL} or --base-url. Exit status: 0 all done, 1 some files failed,\n"
        "2 usage error, 130 stopped with Ctrl+C. Transcripts are named after their input:\n"
        "talk.mp3 gives talk.mp3.txt (or .json), next to it or below --output-dir;\n"
        "subtitles are named as players look for them, talk.mp3 -> talk.srt (or .vtt),\n"
        "unless another audio file beside it has the same stem (talk.wav: talk.mp3.srt).\n"
        " With --stdout and several inputs, JSON formats print one JSON object\n"
        'per line with the input\'s path as "input"; other formats a "==> INPUT <==" header\n'
        "before each transcript. Also runs as: python -m transcribe_sdk\n\n"
        "examples:\n"
        "  transcribe talk.mp3\n"
        "  transcribe - < talk.mp3 > talk.txt\n"
        "  transcribe recordings/ --format srt --output-dir subtitles/\n"
        '  transcribe "calls/*.wav" --eu-native --provider ovh --provider scaleway\n'
        "  transcribe --local examples/audio/hello.wav --stdout",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio files, folders (searched recursively) or glob patterns; - alone reads "
        "audio from standard input and prints its transcript",
    )
    parser.add_argument(
        "-m", "--model", default="whisper-large-v3", help="model to use (default: %(default)s)"
    )
    parser.add_argument("-l", "--language", help="language of the audio, ISO-639-1 (en, fr, de)")
    parser.add_argument(
        "-f",
        "--format",
        default="text",
        choices=CLI_FORMATS,
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
        type=_count,
        default=4,
        help="files transcribed at once (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing transcripts")
    parser.add_argument("--prompt", help="text to guide the model's style or vocabulary")
    parser.add_argument("--temperature", type=_finite, help="sampling temperature, 0 to 1")
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
        help="transcribe on this machine (needs the local extra: pip install -e '.[local]' in a "
        "clone); no key needed",
    )
    conn.add_argument("--base-url", help=f"API base URL (default: ${ENV_BASE_URL} or the router)")
    auth = conn.add_mutually_exclusive_group()
    auth.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key (default: ${ENV_API_KEY}). Other users of this machine can see it in "
        f"the process list: prefer ${ENV_API_KEY}",
    )
    auth.add_argument(
        "--no-auth",
        action="store_true",
        help="send no API key, for a server without auth",
    )
    conn.add_argument("--timeout", type=_positive, help="seconds to wait for each request")
    conn.add_argument("--retries", type=_retries, default=2, help="retries per file (default: 2)")
    conn.add_argument(
        "--deadline",
        type=_positive,
        help="give up on a request after this many seconds, retries included (with --split: "
        "on each piece)",
    )
    limits = parser.add_argument_group("checks before and after sending")
    limits.add_argument(
        "--max-upload-mb",
        type=_positive,
        help="refuse a file larger than this many MB before sending it (with --split: a piece)",
    )
    limits.add_argument(
        "--max-audio-seconds",
        type=_positive,
        help="refuse audio longer than this before sending it (with --split: a piece)",
    )
    limits.add_argument(
        "--silence-filter",
        action="store_true",
        help="drop segments the server scored as silence (asks for verbose_json)",
    )
    limits.add_argument(
        "--enforce-providers",
        action="store_true",
        help="fail a file whose answer came from a provider not named by --provider",
    )
    subs = parser.add_argument_group("subtitles (--format srt or vtt)")
    subs.add_argument(
        "--min-cue-duration",
        type=_seconds,
        metavar="SECONDS",
        help="shortest time a cue stays on screen; shorter cues run on into the silence after "
        "them or join their neighbour (default: 5/6 s, Netflix's minimum; 0: the segments' "
        "own times). Given, the transcript is asked as verbose_json and the subtitles are "
        "made here, whatever server answers",
    )
    longer = parser.add_argument_group("long audio")
    longer.add_argument(
        "--split",
        action="store_true",
        help="split files over --max-chunk-mb or --max-chunk-seconds into pieces "
        "(needs PyAV: pip install av numpy, or pip install -e '.[split]' in a clone)",
    )
    longer.add_argument(
        "--max-chunk-mb",
        type=_positive,
        default=25.0,
        help="largest piece to upload, in MB (default: %(default)s)",
    )
    longer.add_argument("--max-chunk-seconds", type=_positive, help="longest piece, in seconds")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, only errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(stdin=None)  # the stream read for the input "-"
    add_ray_arguments(parser)
    return parser


_RAY_ADDRESS = re.compile(r"^(auto|local|ray://[^\s/]+|[A-Za-z0-9.\-\[\]:]+:\d{1,5})$")


def _ray_address(value: str) -> str:
    if value == "" or _RAY_ADDRESS.match(value):
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a Ray address (auto or HOST:6379); put --ray after "
        "the inputs, or write --ray=ADDRESS"
    )


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--ray [ADDRESS]``, ``--max-in-flight N`` and ``--rpm N`` to the command's parser.

    ``args.ray`` is ``None`` without the flag, ``""`` for a new local cluster, or the address.
    Only the flags: Ray itself loads (in ``_ray.py``) when ``--ray`` is given.
    """
    group = parser.add_argument_group("cluster (needs Ray: pip install 'ray[data]>=2.45')")
    group.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        type=_ray_address,
        metavar="ADDRESS",
        help="run on a Ray cluster: ADDRESS (auto, HOST:6379) from one of its machines, or a "
        "new one on this machine when left out",
    )
    group.add_argument(
        "--max-in-flight",
        type=_count,
        metavar="N",
        help="with --ray: requests in flight across the cluster (default: --concurrency)",
    )
    group.add_argument(
        "--rpm",
        type=_count,
        metavar="N",
        help="with --ray: requests per minute across the cluster (default: no limit)",
    )


def makes_subtitles(args: argparse.Namespace) -> bool:
    """Whether the command makes the subtitles itself, from ``verbose_json``
    (``--min-cue-duration`` given with srt or vtt)."""
    return getattr(args, "min_cue_duration", None) is not None and args.format in SUBTITLE_FORMATS


def call_options(args: argparse.Namespace) -> dict[str, Any]:
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
        "max_upload_bytes": None
        if args.max_upload_mb is None
        else max(1, int(args.max_upload_mb * 1_000_000)),
        "max_audio_seconds": args.max_audio_seconds,
        "silence_filter": True if args.silence_filter else None,
        "enforce_allowed_providers": True if args.enforce_providers else None,
        # Subtitles made here from verbose_json need a segment a phrase (the local engine
        # decodes sequentially for them).
        "timestamp_granularities": ["segment"] if makes_subtitles(args) else None,
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
