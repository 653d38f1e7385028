"""What the ``transcribe`` command writes: where each transcript goes, how it is written, and
the lines it prints (progress, failures), made safe for a terminal.

Naming rule: an input's transcript is named after that input alone, its whole name plus the
format's extension (``talk.mp3`` -> ``talk.mp3.txt``), next to it, or with ``--output-dir``
at the input's path relative to the argument that found it (``recordings/rec0/talk.wav``
found by ``recordings/`` -> ``OUT/rec0/talk.wav.txt``). Subtitles (srt, vtt) drop the
input's extension, as media players look for them (``talk.mp4`` -> ``talk.srt``), unless
another audio file beside the input has the same stem (``talk.wav``), or another input of the
run would get the same name (``a/talk.wav`` and ``b/talk.mp3`` into one ``--output-dir``):
those keep the whole name (``talk.mp4.srt``). So a transcript's name depends on the input and
its folder (and, for subtitles, on that last clash only), two inputs of one folder never share
one, and a transcript that exists belongs to its input; one that exists is skipped (not
replaced) unless ``--overwrite``. What would still collide (an input's transcript path is
another input, or two inputs from different arguments land on one path) fails those inputs,
with a message, rather than renaming anything.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from .._formats import CONTENT_TYPES, SUBTITLE_FORMATS
from ..errors import MissingAPIKeyError
from ..models import Transcription
from ._args import makes_subtitles

EXTENSIONS = {"json": "json", "verbose_json": "json", "text": "txt", "srt": "srt", "vtt": "vtt"}

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories never printed as they are: controls (escape sequences, newlines, the C1
CSI), format characters (bidirectional overrides), surrogates (undecodable file names),
private and unassigned code points, line and paragraph separators."""

_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL  # with O_CREAT: fails on any existing name, a planted symlink included
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
TEMP_ATTEMPTS = 16
"""Random temporary names tried before writing a transcript is given up."""


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every character a terminal would act on escaped (``\\x1b``, ``\\n``,
    ``\\u202e``...), except those in ``keep``."""
    if text.isprintable() and not keep:
        return text
    return "".join(
        repr(ch)[1:-1] if ch not in keep and unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch
        for ch in text
    )


# What the library's messages call a Python argument, as the command's flag.
_FLAGS = {
    "max_concurrency": "-c/--concurrency",
    "max_retries": "--retries",
    "timeout": "--timeout",
    "deadline": "--deadline",
    "language": "-l/--language",
    "model": "-m/--model",
    "response_format": "-f/--format",
    "prompt": "--prompt",
    "temperature": "--temperature",
    "preference": "--preference",
    "allowed_providers": "--provider",
    "eu_native": "--eu-native",
    "allow_quantization": "--no-quantization",
    "allow_zero_data_retention": "--zero-data-retention",
    "enable_model_fallback": "--model-fallback",
    "extra_body": "--extra",
    "max_chunk_bytes": "--max-chunk-mb",
    "max_chunk_seconds": "--max-chunk-seconds",
    "base_url": "--base-url",
    "api_key": "--api-key (or $TRANSCRIBE_API_KEY)",
    "max_upload_bytes": "--max-upload-mb",
    "max_audio_seconds": "--max-audio-seconds",
    "enforce_allowed_providers": "--enforce-providers",
    "silence_filter": "--silence-filter",
}
_OWN_KEYWORD = re.compile(r"has its own keyword argument; use (\w+)=\.\.\.")
_REWRITES = [
    (re.compile(r"\bmax_retries=(\d+)"), r"--retries \1"),
    (re.compile(r"\btimeout=httpx\.Timeout\([^)]*?(?:\w+=)?([\d.]+)\)"), r"--timeout \1"),
    (re.compile(r"\b(deadline|timeout)=(?:\.\.\.)?"), r"--\1"),
    (re.compile(r"\bmax_upload_bytes=([\d,]+)"), r"--max-upload-mb (\1 bytes)"),
    (re.compile(r"\bmax_audio_seconds="), "--max-audio-seconds "),
    (re.compile(r"\benforce_allowed_providers\b"), "--enforce-providers"),
    (re.compile(r"\ballowed_providers\b"), "--provider"),
    (re.compile(r"\bextra_body\b"), "--extra"),
    (re.compile(r"\bbase_url\b"), "--base-url"),
    (re.compile(r"cannot set 'file'; pass it as the file"), "cannot set 'file'; it is the INPUT"),
    (re.compile(r"\(transcribe_long splits long audio\)"), "(--split cuts it into pieces)"),
    (
        re.compile(r"Pass a \(filename, content, content_type\) tuple such as \([^)]*\)\."),
        "Give the file its audio extension (talk.mp3), or convert it to WAV, MP3, FLAC, OGG, "
        "M4A or WebM.",
    ),
    (
        # the only stream or file object the command reads is standard input
        re.compile(r"^(the stream is empty|the file object has no bytes left to read .*)$"),
        "standard input is empty: pipe the audio in (transcribe - < talk.mp3)",
    ),
]
_NO_KEY = (
    "no API key: set $TRANSCRIBE_API_KEY (or pass --api-key KEY); for a server without auth "
    "add --no-auth, and --local transcribes offline with no key"
)


def cli_message(error: BaseException) -> str:
    """An error's message as the command says it: its flags, not Python argument names, and
    printable text only."""
    if isinstance(error, MissingAPIKeyError):
        return _NO_KEY
    text = str(error)
    param = getattr(error, "param", None)
    if isinstance(param, str) and param in _FLAGS and text.startswith(f"{param}: "):
        text = f"{_FLAGS[param]}: {text[len(param) + 2 :]}"
    elif param == "file" and text.startswith("file: "):  # the line names the INPUT already
        text = text[len("file: ") :]
    text = _OWN_KEYWORD.sub(
        lambda m: (
            f"has its own flag; use {_FLAGS.get(m[1], m[1])}"
            if m[1] in _FLAGS
            else "has its own keyword argument, which the command does not offer"
        ),
        text,
    )
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return printable(text)


def as_json(result: Transcription, indent: int | None = None) -> str:
    """A JSON result as the command writes it: the server's fields, then, when the router
    said anything, ``route`` (its fields that were sent) and ``cost``."""
    body = result.model_dump_json(indent=indent, exclude_none=True)
    route = result.route
    if route.is_empty:
        return body
    data = json.loads(body)
    data["route"] = route.model_dump(exclude_none=True)
    data["cost"] = route.cost
    return json.dumps(data, indent=indent, ensure_ascii=False)


def asked_format(args: argparse.Namespace) -> str:
    """The response format asked of the server: ``verbose_json`` when the command makes the
    subtitles itself (``--min-cue-duration`` given with srt or vtt), else ``--format``."""
    if makes_subtitles(args):
        return "verbose_json"
    return str(args.format)


def subtitles(args: argparse.Namespace, result: Any) -> str:
    """``result`` (a verbose transcription) as the SRT or WebVTT text ``--format`` asks for."""
    from ..subtitles import to_srt, to_vtt

    convert = to_srt if args.format == "srt" else to_vtt
    return convert(result, min_duration=args.min_cue_duration)


def render(result: Any) -> str:
    """A result as the text of its transcript file."""
    if isinstance(result, Transcription):
        return as_json(result, indent=2) + "\n"
    text = str(result)
    return text if text.endswith("\n") else text + "\n"


def stdout_text(results: Sequence[tuple[Path, Any]], fmt: str, *, several: bool) -> str:
    """What ``--stdout`` prints for ``results`` (input, result), in input order.

    One input: its transcript as it would be written to its file. Several: for the JSON
    formats, JSON Lines, one object per input with its path first (``{"input": "a.wav",
    "text": ...}``); for the others, each transcript after a header line ``==> a.wav <==``
    (as ``head`` and ``tail`` mark files), a blank line between two.
    """
    if not several:
        return "".join(render(result) for _, result in results)
    if EXTENSIONS[fmt] == "json":
        lines = []
        for source, result in results:
            body = as_json(result)
            # ensure_ascii: a file name that is not UTF-8 still gives valid JSON
            head = '{"input": ' + json.dumps(str(source))
            lines.append(head + ("}" if body == "{}" else ", " + body[1:]) + "\n")
        return "".join(lines)
    return "\n".join(
        f"==> {printable(str(source))} <==\n{render(result)}" for source, result in results
    )


def _shares_stem(source: Path) -> bool:
    """Whether another audio file beside ``source`` has its stem (``talk.wav`` beside
    ``talk.mp4``): then ``talk.srt`` would not say whose subtitles it holds."""
    try:
        siblings = list(source.parent.glob(f"{glob.escape(source.stem)}.*"))
    except OSError:
        return True
    return any(
        other.name != source.name and other.suffix.lower()[1:] in CONTENT_TYPES
        for other in siblings
    )


def output_paths(
    sources: Mapping[Path, Path], fmt: str, output_dir: Path | None
) -> dict[Path, Path]:
    """Where each input's transcript goes; ``sources`` maps each input to its path relative to
    the argument that found it (see the module's naming rule)."""
    suffix = EXTENSIONS[fmt]
    targets: dict[Path, Path] = {}
    for source, relative in sources.items():
        if output_dir is None:
            targets[source] = source.with_name(f"{source.name}.{suffix}")
        else:
            targets[source] = output_dir / relative.parent / f"{relative.name}.{suffix}"
    if fmt not in SUBTITLE_FORMATS:
        return targets
    # Subtitles: talk.mp4 -> talk.srt, the name players look for, where that is unambiguous.
    short = {
        source: target.with_name(f"{Path(target.stem).stem}.{suffix}")
        for source, target in targets.items()
        if source.suffix and not _shares_stem(source)
    }
    claims = Counter(short.values())
    for source, target in short.items():
        if claims[target] == 1:  # two inputs under one -o folder: both keep their whole name
            targets[source] = target
    return targets


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def conflicts(targets: Mapping[Path, Path]) -> dict[Path, str]:
    """Inputs whose transcript cannot be written where the naming rule puts it, with why:
    the path is an input of this run, or another input's transcript goes there too."""
    inputs = {source.resolve(): source for source in targets}
    identities = {_identity(source): source for source in targets}
    identities.pop(None, None)
    problems: dict[Path, str] = {}
    owners: dict[Path, list[Path]] = {}
    for source, target in targets.items():
        where = target.resolve()
        clash = inputs.get(where) or identities.get(_identity(target))
        if clash is not None:
            problems[source] = (
                f"its transcript would replace {clash}, an input of this run; use -o/--output-dir"
            )
        owners.setdefault(where, []).append(source)
    for sources in owners.values():
        for source in sources if len(sources) > 1 else ():
            others = ", ".join(str(s) for s in sources if s != source)
            problems.setdefault(
                source,
                f"its transcript {targets[source]} would also be that of {others}; "
                "transcribe them with different -o/--output-dir",
            )
    return problems


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a new temporary file beside it, then rename it over
    ``path``: a stopped run never leaves half a transcript, and a symlink planted where the
    temporary file goes is never followed (the name is random and opened with ``O_EXCL``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    for _ in range(TEMP_ATTEMPTS):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        try:
            fd = os.open(temp, _TEMP_FLAGS, 0o666)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free temporary name beside {path} after {TEMP_ATTEMPTS} tries")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def check_writable(folder: Path) -> str | None:
    """Why transcripts cannot be written in ``folder`` (created if missing), or ``None``."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".transcribe-probe-{secrets.token_hex(4)}"
        os.close(os.open(probe, _TEMP_FLAGS, 0o600))
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    return None


def blocked(target: Path, overwrite: bool) -> str | None:
    """Why an existing ``target`` cannot take a transcript (``None``: free, or replaceable)."""
    if target.is_dir():
        return f"{target} is a folder; a transcript cannot go there"
    if overwrite and target.is_symlink():
        return f"{target} is a symbolic link; not replaced (remove it to write there)"
    return None


def relative_to_argument(found: Sequence[Path], base: Path) -> dict[Path, Path]:
    """Each found path relative to ``base``; a path outside it keeps its name only."""
    out: dict[Path, Path] = {}
    for path in found:
        try:
            out[path] = path.relative_to(base)
        except ValueError:
            out[path] = Path(path.name)
    return out
