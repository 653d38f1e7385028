"""Words of batched against sequential decoding, over several arrangements of known speech.

Run on demand (pytest does not collect this folder), from the repository root::

    python benchmarks/batched_words.py            # 5 files, about 4 minutes on 2 cores
    python benchmarks/batched_words.py --files 10

With ``tiny.en``, where a window starts and ends moves a few words of a long file either way,
so one file cannot tell the two decodings apart. Each file here is ``tests/fixtures``'
``long_speech.wav``, ``numbers.wav`` and ``hello.wav``, four times over in a shuffled order
with 0.2 to 2 s of silence after each (about 300 s of speech, 776 known words; a seeded
shuffle, so the same files every run). Each is transcribed by ``WhisperEngine(batch_size=1)``
(sequential) and by the default engine (batch 4), in one process; the table gives each file's
word error rate (``tests/wer.py``) and the mean.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PIECES = ("long_speech.wav", "numbers.wav", "hello.wav")


def build(path: Path, seed: int) -> str:
    """Write one arrangement; its known text."""
    known = json.loads((FIXTURES / "manifest.json").read_text())
    shuffle = random.Random(seed)
    texts: list[str] = []
    with wave.open(str(path), "wb") as out:
        for copy in range(4):
            order = list(PIECES)
            shuffle.shuffle(order)
            for name in order:
                with wave.open(str(FIXTURES / name), "rb") as source:
                    if copy == 0 and not texts:
                        out.setparams(source.getparams())
                    out.writeframes(source.readframes(source.getnframes()))
                    pause = int(source.getframerate() * shuffle.uniform(0.2, 2.0))
                    out.writeframes(b"\0" * pause * source.getsampwidth())
                texts.append(known[name])
    return " ".join(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5, help="arrangements (5)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from wer import word_error_rate

    from transcribe_sdk.local import WhisperEngine
    from transcribe_sdk.local._options import Options

    engines = {"sequential (batch 1)": WhisperEngine(batch_size=1), "batch 4": WhisperEngine()}
    print(f"load average before: {os.getloadavg()[0]:.2f}\n", flush=True)
    print("| file | " + " | ".join(engines) + " |")
    print("| --- |" + " --- |" * len(engines))
    rates: dict[str, list[float]] = {name: [] for name in engines}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.files):
            path = Path(folder) / f"arrangement-{seed}.wav"
            known = build(path, seed)
            for name, engine in engines.items():
                text = engine.transcribe(path, "tiny.en", Options()).text
                rates[name].append(word_error_rate(known, text))
            cells = " | ".join(f"{rates[name][-1]:.3f}" for name in engines)
            print(f"| {seed} | {cells} |", flush=True)
    means = " | ".join(f"**{sum(r) / len(r):.3f}**" for r in rates.values())
    print(f"| mean | {means} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
