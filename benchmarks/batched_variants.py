"""Ways to decode batched that were measured against sequential decoding (issue 26, round two).

Run on demand (pytest does not collect this folder), from the repository root::

    python benchmarks/batched_variants.py              # every variant, then the serve bound
    python benchmarks/batched_variants.py --no-gather  # the variants only
    python benchmarks/batched_variants.py --gather-only
    python benchmarks/batched_variants.py --only "lock step 4" --no-gather

One process, ``tiny.en`` int8 loaded once. For each fixture of known text (``tests/fixtures``'
speech, ``examples/audio``, and the 297 s file ``benchmarks/batched.py`` builds), the word
error rate of sequential decoding (the engine at batch size 1) and of each variant below, with
its time (the time of one call; the machine's load moves it, so compare within a run):

- **engine batch 4**: what ``WhisperEngine(batch_size=4)`` does: 20 s windows cut at pauses,
  the first alone, each batch prompted with the last window decoded before it;
- **+ fallback**: windows whose text fails sequential decoding's checks (compression ratio
  over 2.4, or average log probability under -1.0 without being silence) decoded again on
  their own, with the text before them and the whole temperature schedule;
- **+ timestamps**: the pipeline asked for timestamp tokens (``without_timestamps=False``);
- **+ all earlier text**: each batch prompted with all the text before it (the model keeps the
  last 223 tokens), as sequential decoding conditions on, instead of one window's;
- **+ 0.2 s before**: each window starts 0.2 s before the pause it was cut at;
- **windows ≤ 25 s / ≤ 30 s**, **batch 8**;
- **30 s overlapping, de-duplicated**: each window decoded with the 30 s of audio from its start
  (real speech after it instead of silence), with timestamp tokens and no prompt; of what it
  hears, only the segments starting 0.6 s or more before the next window's start are kept;
- **lock step N**: the windows split into N runs of neighbours, decoded N at a time (one window
  of each run per call), each prompted with its own run's earlier text. CTranslate2 refuses
  prompts of different lengths in one call ("requires the <|startoftranscript|> token to be at
  the same position in all batches"), so each call's prompts are cut to the shortest. N = 1 is
  sequential decoding of the same windows without timestamps.

Then the bound on gathering windows of concurrent requests into shared batches in ``serve``:
eight requests of ``long_speech.wav`` through two slots (``serve``'s two transcription threads,
each decoding its own request) against all their windows through shared batches.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE_RATE = 16000
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MAX_PROMPT_TOKENS = 223  # what faster-whisper keeps of earlier text (half the context, less one)


class Bench:
    """The model, its engine and pipeline, shared by every variant."""

    def __init__(self) -> None:
        from faster_whisper import BatchedInferencePipeline
        from faster_whisper.tokenizer import Tokenizer

        from transcribe_sdk.local import WhisperEngine

        self.engine = WhisperEngine(batch_size=1)
        self.batched = WhisperEngine(batch_size=4)
        self.model = self.engine.model("tiny.en")
        self.batched.model("tiny.en")
        self.vad = self.engine.vad_options({})
        self.pipeline = BatchedInferencePipeline(self.model)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, False, task="transcribe", language="en")

    def windows(self, samples: Any, limit: float) -> list[dict[str, float]]:
        from transcribe_sdk.local._batched import speech_windows

        return speech_windows(samples, self.vad, limit)

    def batched_variant(
        self,
        samples: Any,
        *,
        limit: float = 20.0,
        size: int = 4,
        fallback: bool = False,
        timestamps: bool = False,
        history: bool = False,
        lead: float = 0.0,
        prompt: bool = True,
    ) -> tuple[str, int]:
        """The text, and how many windows were decoded again."""
        from transcribe_sdk.local._batched import heard

        windows = self.windows(samples, limit)
        if len(windows) <= 1:  # as the engine: one window is decoded sequentially
            pieces, _ = self.model.transcribe(samples, vad_filter=True, vad_parameters=self.vad)
            return "".join(p.text for p in pieces).strip(), 0
        windows = [{"start": max(0.0, w["start"] - lead), "end": w["end"]} for w in windows]
        groups = [windows[:1]] + [windows[i : i + size] for i in range(1, len(windows), size)]
        texts: list[str] = []
        again = 0
        for group in groups:
            before = " ".join(texts)[-2000:] if history else (texts[-1] if texts else "")
            before = before if prompt else ""
            pieces, _ = self.pipeline.transcribe(
                samples,
                clip_timestamps=group,
                batch_size=len(group),
                initial_prompt=f" {before}" if before else None,
                temperature=0.0,
                vad_filter=False,
                without_timestamps=not timestamps,
            )
            for piece in filter(heard, pieces):
                doubtful = piece.compression_ratio > 2.4 or piece.avg_logprob < -1.0
                if fallback and doubtful:
                    window = min(group, key=lambda w: abs(w["start"] - piece.start))
                    redone, _ = self.model.transcribe(
                        samples,
                        clip_timestamps=[window["start"], window["end"]],
                        initial_prompt=texts[-1] if texts else None,
                        temperature=TEMPERATURES,
                        vad_filter=False,
                    )
                    texts.append("".join(p.text for p in redone).strip())
                    again += 1
                else:
                    texts.append(piece.text.strip())
        return " ".join(texts), again

    def overlapping(self, samples: Any, size: int = 4) -> str:
        import numpy as np

        from transcribe_sdk.local._batched import heard

        windows = self.windows(samples, 20.0)
        total = len(samples) / SAMPLE_RATE
        clips = [(w["start"], min(w["start"] + 30.0, total)) for w in windows]
        groups = [[0]] + [
            list(range(i, min(i + size, len(windows)))) for i in range(1, len(windows), size)
        ]
        texts: list[str] = []
        for group in groups:
            # The clips overlap, which the pipeline refuses on one array: it gets them end to end.
            parts = [
                samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
                for a, b in (clips[i] for i in group)
            ]
            starts = np.cumsum([0.0] + [len(p) / SAMPLE_RATE for p in parts])
            pieces, _ = self.pipeline.transcribe(
                np.concatenate(parts),
                clip_timestamps=[
                    {"start": float(a), "end": float(b)} for a, b in itertools.pairwise(starts)
                ],
                batch_size=len(group),
                temperature=0.0,
                vad_filter=False,
                without_timestamps=False,
            )
            kept: dict[int, list[str]] = {i: [] for i in group}
            for piece in filter(heard, pieces):
                k = max(j for j in range(len(group)) if starts[j] <= piece.start + 0.05)
                index = group[k]
                at = piece.start - starts[k] + clips[index][0]
                if index + 1 == len(windows) or at + 0.6 < windows[index + 1]["start"]:
                    kept[index].append(piece.text.strip())
            texts.extend(" ".join(kept[i]) for i in group)
        return " ".join(t for t in texts if t)

    def lock_step(self, samples: Any, runs: int) -> str:
        import numpy as np

        windows = self.windows(samples, 20.0)
        per = -(-len(windows) // min(runs, len(windows)))
        parts = [windows[i : i + per] for i in range(0, len(windows), per)]
        earlier: list[list[int]] = [[] for _ in parts]
        texts: list[list[str]] = [[] for _ in parts]
        eot = self.tokenizer.eot
        for step in range(max(len(p) for p in parts)):
            live = [i for i, p in enumerate(parts) if step < len(p)]
            features = []
            for i in live:
                w = parts[i][step]
                piece = samples[int(w["start"] * SAMPLE_RATE) : int(w["end"] * SAMPLE_RATE)]
                piece = np.pad(piece, (0, 30 * SAMPLE_RATE - len(piece)))
                features.append(self.model.feature_extractor(piece)[:, :3000])
            encoded = self.model.encode(np.stack(features))
            keep = min(MAX_PROMPT_TOKENS, *(len(earlier[i]) for i in live))
            prompts = [
                self.model.get_prompt(
                    self.tokenizer,
                    previous_tokens=earlier[i][-keep:] if keep else [],
                    without_timestamps=True,
                )
                for i in live
            ]
            results = self.model.model.generate(encoded, prompts, beam_size=5)
            for i, result in zip(live, results, strict=True):
                tokens = [t for t in result.sequences_ids[0] if t < eot]
                earlier[i].extend(tokens)
                texts[i].append(self.tokenizer.decode(tokens).strip())
        return " ".join(" ".join(t) for t in texts)


def fixtures(folder: Path) -> dict[str, tuple[Path, str]]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from batched import build_long

    known = json.loads((FIXTURES / "manifest.json").read_text())
    found = {n: (FIXTURES / n, known[n]) for n in ("hello.wav", "numbers.wav", "long_speech.wav")}
    examples = json.loads((ROOT / "examples" / "audio" / "manifest.json").read_text())
    for name, text in examples.items():
        found[f"examples/{name}"] = (ROOT / "examples" / "audio" / name, text)
    found["297 s file"] = (folder / "long.wav", build_long(folder / "long.wav", copies=4))
    return found


def variants(bench: Bench) -> dict[str, Callable[[Any], tuple[str, int]]]:
    def lock(runs: int) -> Callable[[Any], tuple[str, int]]:
        return lambda s: (bench.lock_step(s, runs), 0)

    v = bench.batched_variant
    return {
        "engine batch 4": v,
        "+ fallback": lambda s: v(s, fallback=True),
        "+ timestamps": lambda s: v(s, timestamps=True),
        "+ all earlier text": lambda s: v(s, history=True),
        "+ 0.2 s before": lambda s: v(s, lead=0.2),
        "windows <= 25 s": lambda s: v(s, limit=25.0),
        "windows <= 30 s": lambda s: v(s, limit=30.0),
        "batch 8": lambda s: v(s, size=8),
        "30 s overlapping, de-duplicated": lambda s: (bench.overlapping(s), 0),
        "lock step 1": lock(1),
        "lock step 4": lock(4),
    }


def gather(bench: Bench, requests: int = 8) -> None:
    import numpy as np
    from wer import word_error_rate

    from transcribe_sdk._audio.decode import decode
    from transcribe_sdk.local._batched import heard
    from transcribe_sdk.local._options import Options

    path = FIXTURES / "long_speech.wav"
    known = json.loads((FIXTURES / "manifest.json").read_text())[path.name]
    data = path.read_bytes()
    length = len(decode(io.BytesIO(data))) / SAMPLE_RATE

    def slots(engine: Any) -> float:
        with ThreadPoolExecutor(2) as pool:
            texts = pool.map(
                lambda _: engine.transcribe(data, "tiny.en", Options()).text, range(requests)
            )
            return max(word_error_rate(known, t) for t in texts)

    def gathered(size: int, threads: int) -> float:
        # Each request decoded and cut into windows on its own (as its handler would), then
        # every window of every request through shared batches, answered by window index.
        audio = [decode(io.BytesIO(data)) for _ in range(requests)]
        everything = np.concatenate(audio)
        owner, flat, offset = [], [], 0.0
        for number, samples in enumerate(audio):
            for w in bench.windows(samples, 20.0):
                flat.append({"start": w["start"] + offset, "end": w["end"] + offset})
                owner.append(number)
            offset += len(samples) / SAMPLE_RATE
        batches = [list(range(i, min(i + size, len(flat)))) for i in range(0, len(flat), size)]

        def run(batch: list[int]) -> list[tuple[int, str]]:
            pieces, _ = bench.pipeline.transcribe(
                everything,
                clip_timestamps=[flat[i] for i in batch],
                batch_size=len(batch),
                vad_filter=False,
                temperature=0.0,
            )
            # One piece per window, in order (no timestamp tokens).
            return [
                (owner[i], p.text.strip()) for i, p in zip(batch, pieces, strict=True) if heard(p)
            ]

        texts: list[list[str]] = [[] for _ in audio]
        with ThreadPoolExecutor(threads) as pool:
            for done in pool.map(run, batches):
                for number, text in done:
                    texts[number].append(text)
        return max(word_error_rate(known, " ".join(t)) for t in texts)

    rows: list[tuple[str, Callable[[], float]]] = [
        ("two slots, batch 1 (serve's default)", lambda: slots(bench.engine)),
        ("two slots, batch 4 (--batch-size 4)", lambda: slots(bench.batched)),
        ("gathered, batch 8, one decoder thread", lambda: gathered(8, 1)),
        ("gathered, batch 4, two decoder threads", lambda: gathered(4, 2)),
        ("gathered, batch 8, two decoder threads", lambda: gathered(8, 2)),
    ]
    print(f"\n{requests} requests of {path.name} ({length:.0f} s) at once, in-process:\n")
    print("| decoding | audio s per s | ratio | worst WER |")
    print("| --- | --- | --- | --- |")
    first = 0.0
    for name, call in rows:
        started = time.perf_counter()
        worst = call()
        rate = requests * length / (time.perf_counter() - started)
        first = first or rate
        print(f"| {name} | {rate:.1f} | {rate / first:.2f} | {worst:.3f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-gather", action="store_true", help="skip the serve bound")
    parser.add_argument("--gather-only", action="store_true", help="the serve bound only")
    parser.add_argument("--only", action="append", help="this variant (again for more)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from wer import word_error_rate

    from transcribe_sdk._audio.decode import decode
    from transcribe_sdk.local._options import Options

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    bench = Bench()
    bench.engine.transcribe(str(FIXTURES / "hello.wav"), "tiny.en", Options())  # warm up
    if args.gather_only:
        gather(bench)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        found = fixtures(Path(folder))
        table: dict[str, dict[str, str]] = {}
        for name, (path, known) in found.items():
            samples = decode(str(path))
            started = time.perf_counter()
            text = bench.engine.transcribe(str(path), "tiny.en", Options()).text
            base = time.perf_counter() - started
            table.setdefault("sequential (engine batch 1)", {})[name] = (
                f"{word_error_rate(known, text):.3f} ({base:.1f} s)"
            )
            for variant, call in variants(bench).items():
                if args.only and variant not in args.only:
                    continue
                started = time.perf_counter()
                text, again = call(samples)
                seconds = time.perf_counter() - started
                note = f", {again} again" if again else ""
                table.setdefault(variant, {})[name] = (
                    f"{word_error_rate(known, text):.3f} ({seconds / base:.2f}x{note})"
                )
            print(f"{name} done", file=sys.stderr, flush=True)
    print("\nWER (time: seconds for sequential, then the ratio to it on the same file)\n")
    print("| decoding | " + " | ".join(found) + " |")
    print("| --- |" + " --- |" * len(found))
    for variant, cells in table.items():
        print(f"| {variant} | " + " | ".join(cells[n] for n in found) + " |", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\npeak RSS of this process: {peak} MB")
    if not args.no_gather:
        gather(bench)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
