"""Seconds per clip and real-time factor of the local engine on the shipped speech fixtures.

Run on demand (pytest does not collect this folder)::

    python benchmarks/local_engine.py                  # 3 runs per clip, json
    python benchmarks/local_engine.py --repeat 5 --format verbose_json
    python benchmarks/local_engine.py --only hello.wav --only long_speech.wav

Each fixture of ``tests/fixtures/manifest.json`` is transcribed ``--repeat`` times, one call at
a time, through ``Client(base_url="local")``: the whole in-process path a user gets (multipart
encoding, the local app, decoding, the model, response parsing). The model is loaded by a
warm-up call first and its load time is reported on its own.

Columns:

- ``audio s``: the clip's length, decoded as the engine decodes it;
- ``wall s``: seconds per call, the median of the runs (``min`` beside it);
- ``cpu s``: CPU seconds per call, all threads of this process and of the engine's process,
  where the model runs (median; the engine's is read from Linux's /proc, elsewhere left out);
- ``RTF``: real-time factor, **wall / audio** (lower is better; 0.25 means a minute of audio
  takes 15 s);
- ``x RT``: its inverse, **audio / wall** (how many times faster than real time);
- ``WER``: word error rate of the last run against the manifest's text.

The load average before and after is printed: on a shared machine other processes' work shows
up in the wall times (the CPU column is less affected).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "tests"))

from faster_whisper.audio import decode_audio  # noqa: E402
from wer import word_error_rate  # noqa: E402

from transcribe_sdk import Client  # noqa: E402
from transcribe_sdk.local import shared_engine  # noqa: E402


def _empty_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    return buffer.getvalue()


def _text_of(result: object) -> str:
    return result if isinstance(result, str) else str(getattr(result, "text", ""))


def _cpu() -> float:
    """CPU seconds of this process and of the engine's process (the model runs there)."""
    from transcribe_sdk.local._process import client_engine

    total = time.process_time()
    pid = getattr(client_engine(), "pid", None)
    stat = Path(f"/proc/{pid}/stat")
    if pid is not None and stat.exists():
        fields = stat.read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per clip (default 3)")
    parser.add_argument("--model", default="tiny.en", help="model (default tiny.en)")
    parser.add_argument(
        "--format",
        default="json",
        choices=["json", "verbose_json", "text", "srt", "vtt"],
        help="response_format of the timed calls (default json)",
    )
    parser.add_argument("--only", action="append", default=[], help="a fixture name (repeatable)")
    args = parser.parse_args(argv)

    manifest: dict[str, str] = json.loads((FIXTURES / "manifest.json").read_text())
    names = args.only or list(manifest)
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with Client(base_url="local") as client:
        started = time.perf_counter()
        client.transcribe(("warm-up.wav", _empty_wav()), model=args.model)
        engine = shared_engine()
        print(
            f"model {args.model} (engine default {engine.default_model}, VAD filter "
            f"{'on' if engine.vad_filter else 'off'}) loaded in "
            f"{time.perf_counter() - started:.2f} s; response_format={args.format}, "
            f"{args.repeat} run(s) per clip\n"
        )
        header = (
            f"{'clip':<16} {'audio s':>8} {'wall s':>8} {'min':>7} {'cpu s':>7} "
            f"{'RTF':>6} {'x RT':>6} {'WER':>5}"
        )
        print(header)
        print("-" * len(header))
        total_audio = total_wall = 0.0
        for name in names:
            path = FIXTURES / name
            seconds = len(decode_audio(str(path), sampling_rate=16000)) / 16000
            walls: list[float] = []
            cpus: list[float] = []
            text = ""
            for _ in range(args.repeat):
                wall, cpu = time.perf_counter(), _cpu()
                result = client.transcribe(path, model=args.model, response_format=args.format)
                walls.append(time.perf_counter() - wall)
                cpus.append(_cpu() - cpu)
                text = _text_of(result)
            wall_s = statistics.median(walls)
            total_audio += seconds
            total_wall += wall_s
            wer = word_error_rate(manifest[name], text)
            print(
                f"{name:<16} {seconds:>8.2f} {wall_s:>8.2f} {min(walls):>7.2f} "
                f"{statistics.median(cpus):>7.2f} {wall_s / seconds:>6.2f} "
                f"{seconds / wall_s:>6.1f} {wer:>5.2f}"
            )
        print("-" * len(header))
        print(
            f"{'all clips':<16} {total_audio:>8.2f} {total_wall:>8.2f} {'':>7} {'':>7} "
            f"{total_wall / total_audio:>6.2f} {total_audio / total_wall:>6.1f}"
        )
    print(f"\nload average now {os.getloadavg()[0]:.2f}; RTF = wall / audio (lower is better)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
