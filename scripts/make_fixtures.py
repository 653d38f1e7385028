#!/usr/bin/env python3
"""Generate small speech fixtures for the transcribe_sdk test suite.

The fixtures are synthesised with espeak-ng and converted with ffmpeg, so the
spoken text of every file is known exactly. Alongside the audio, a
``manifest.json`` maps each file name to its expected transcript (an empty
string for the silent file). A copy of ``hello.wav`` plus a one-entry manifest
is also written to ``examples/audio`` for the usage examples.

Files produced in the output folder:

* ``hello.wav``        16 kHz mono 16-bit PCM WAV
* ``hello.mp3``        MP3 (libmp3lame, 32 kbit/s)
* ``hello.flac``       FLAC
* ``hello.ogg``        Vorbis in Ogg
* ``hello.m4a``        AAC in MP4 (moov atom first)
* ``hello.webm``       Opus in WebM
* ``numbers.wav``      a second, different sentence
* ``silence.wav``      two seconds of digital silence
* ``long_speech.wav``  about a minute of speech: ten sentences with pauses

Output is meant to be reproducible: WAV files are written with Python's
``wave`` module from raw PCM, and ffmpeg runs with metadata stripped and its
bit-exact flags set so no version strings or random identifiers end up in the
files. The exact bytes can still differ between espeak-ng or ffmpeg versions.

Requirements: Python 3.10+, ``espeak-ng`` and ``ffmpeg`` on PATH.

Usage::

    python scripts/make_fixtures.py [--out DIR] [--examples DIR | --no-examples]

By default the files go to ``tests/fixtures`` and ``examples/audio`` inside the
repository, wherever the script is run from; explicit relative paths are taken
from the current directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes, signed 16-bit little endian
VOICE = "en-us"
WORDS_PER_MINUTE = 150
PAUSE_SECONDS = 0.7
SILENCE_SECONDS = 2.0

HELLO_TEXT = "Hello world. This is a test of the transcription client."
NUMBERS_TEXT = "The quick brown fox jumps over the lazy dog. One two three four five."

# Ten distinct sentences of everyday words: no digits, abbreviations or names
# that a recogniser could legitimately spell in more than one way.
LONG_SENTENCES = (
    "Every morning I walk to the small bakery at the end of the street and buy fresh bread.",
    "The children played in the garden until the sun went down behind the tall trees.",
    "My brother likes to cook a warm dinner for the whole family on cold and dark winter evenings.",
    "We took the early train to the coast and spent the afternoon walking along the beach.",
    "Please remember to close the windows before you leave the house because it may rain later.",
    "The old library in the center of town has a quiet reading room with large wooden tables.",
    "She planted tomatoes and beans in the spring, and by the summer the garden was full.",
    "After lunch we sat on the grass by the river and watched the boats drift slowly"
    " past the bridge.",
    "The teacher asked everyone to read a short story at home and write a few lines about it.",
    "When the music started, people got up from their chairs and began to dance together"
    " until midnight.",
)
LONG_TEXT = " ".join(LONG_SENTENCES)

# Compressed variants of hello.wav: file name -> ffmpeg output options.
COMPRESSED_VARIANTS: dict[str, list[str]] = {
    "hello.mp3": ["-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"],
    "hello.flac": ["-c:a", "flac", "-compression_level", "8", "-f", "flac"],
    "hello.ogg": ["-c:a", "libvorbis", "-b:a", "32k", "-f", "ogg"],
    "hello.m4a": ["-c:a", "aac", "-b:a", "32k", "-movflags", "+faststart", "-f", "ipod"],
    "hello.webm": ["-c:a", "libopus", "-b:a", "32k", "-f", "webm"],
}

# Options that keep ffmpeg output free of encoder strings, dates and random IDs.
FFMPEG_BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]


def run(cmd: list[str]) -> bytes:
    """Run *cmd*, returning stdout; exit with the tool's stderr if it fails."""
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return proc.stdout


def ffmpeg(*args: str) -> bytes:
    """Run ffmpeg quietly with the given arguments."""
    return run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args])


def synthesize_pcm(text: str, workdir: Path, name: str) -> bytes:
    """Speak *text* with espeak-ng and return it as 16 kHz mono s16le PCM."""
    raw_wav = workdir / f"{name}.espeak.wav"
    run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw_wav), text])
    pcm_options = ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-c:a", "pcm_s16le"]
    return ffmpeg("-i", str(raw_wav), *pcm_options, "pipe:1")


def silence_pcm(seconds: float) -> bytes:
    """Return *seconds* of digital silence as 16 kHz mono s16le PCM."""
    return b"\x00" * (round(seconds * SAMPLE_RATE) * SAMPLE_WIDTH)


def write_wav(path: Path, pcm: bytes) -> None:
    """Write PCM frames to a canonical 44-byte-header WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)


def encode(source: Path, target: Path, options: list[str]) -> None:
    """Convert *source* into *target* with the given ffmpeg output options."""
    layout = ["-ac", "1", "-ar", str(SAMPLE_RATE)]
    ffmpeg("-i", str(source), *FFMPEG_BITEXACT, *layout, *options, str(target))


def write_manifest(path: Path, entries: dict[str, str]) -> None:
    """Write a sorted, pretty-printed JSON manifest."""
    text = json.dumps(dict(sorted(entries.items())), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def build(out_dir: Path, examples_dir: Path | None) -> dict[str, str]:
    """Create every fixture in *out_dir*; return the manifest that was written."""
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH")

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, str] = {}

    with tempfile.TemporaryDirectory(prefix="fixtures-") as tmp:
        workdir = Path(tmp)

        hello = out_dir / "hello.wav"
        write_wav(hello, synthesize_pcm(HELLO_TEXT, workdir, "hello"))
        manifest[hello.name] = HELLO_TEXT

        for name, options in COMPRESSED_VARIANTS.items():
            encode(hello, out_dir / name, options)
            manifest[name] = HELLO_TEXT

        write_wav(out_dir / "numbers.wav", synthesize_pcm(NUMBERS_TEXT, workdir, "numbers"))
        manifest["numbers.wav"] = NUMBERS_TEXT

        write_wav(out_dir / "silence.wav", silence_pcm(SILENCE_SECONDS))
        manifest["silence.wav"] = ""

        pause = silence_pcm(PAUSE_SECONDS)
        chunks: list[bytes] = []
        for index, sentence in enumerate(LONG_SENTENCES):
            if index:
                chunks.append(pause)
            chunks.append(synthesize_pcm(sentence, workdir, f"long{index:02d}"))
        write_wav(out_dir / "long_speech.wav", b"".join(chunks))
        manifest["long_speech.wav"] = LONG_TEXT

    write_manifest(out_dir / "manifest.json", manifest)

    if examples_dir is not None:
        examples_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hello, examples_dir / hello.name)
        write_manifest(examples_dir / "manifest.json", {hello.name: HELLO_TEXT})

    return manifest


def wav_duration(path: Path) -> float:
    """Duration of a WAV file in seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def report(out_dir: Path, manifest: dict[str, str]) -> None:
    """Print the size (and WAV duration) of each generated file."""
    total = 0
    for name in [*sorted(manifest), "manifest.json"]:
        path = out_dir / name
        size = path.stat().st_size
        total += size
        extra = f"  {wav_duration(path):6.2f} s" if path.suffix == ".wav" else ""
        print(f"{name:<18} {size:>10,d} bytes{extra}")
    print(f"{'total':<18} {total:>10,d} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="output folder (default: tests/fixtures in the repository)",
    )
    parser.add_argument(
        "--examples",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder that receives a copy of hello.wav (default: examples/audio in the repository)",
    )
    parser.add_argument(
        "--no-examples",
        action="store_true",
        help="do not copy hello.wav into the examples folder",
    )
    args = parser.parse_args(argv)

    out_dir: Path = args.out or REPO_ROOT / "tests" / "fixtures"
    examples_dir: Path | None = None
    if not args.no_examples:
        examples_dir = args.examples or REPO_ROOT / "examples" / "audio"
    manifest = build(out_dir, examples_dir)
    report(out_dir, manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
