"""Would ``serve`` answer more if concurrent requests shared the model's batched calls?

Run on demand (pytest does not collect this folder), from the repository root::

    python benchmarks/gather.py                # 3 rounds, about 8 minutes on 2 cores
    python benchmarks/gather.py --rounds 1 --requests 4
    python benchmarks/gather.py --costs            # what a window costs, by batch size

Issue 26 asked whether ``serve`` should gather the voice-active windows of concurrent requests
into shared batches (up to the batch size) instead of each request batching its own. This
measures it, in-process, with the engine ``serve`` runs: ``--requests`` transcriptions of
``tests/fixtures/long_speech.wav`` (63 s, three windows) through a pool of request threads
(``serve``'s transcription slots), in audio seconds answered per wall-clock second:

- **engine, batch 1**: sequential decoding (0.2.0's), two slots;
- **engine, batch 4**: what ``serve`` runs by default, two slots: each request decodes its own
  windows, several at a time, the first in the first batch (a whole answer); also with the
  first window alone (as a stream decodes it), and with 4 and 8 slots (the gathered rows'
  controls: more slots also mean more decoding and voice detection at once);
- **gathered, N slots**: the same engine, but every call it makes of faster-whisper's
  ``BatchedInferencePipeline`` goes through a gatherer (below), where windows of other
  requests waiting to be decoded the same way (language, temperature, prompt) fill the call up
  to four windows. At most two calls run at once (the model's two workers). With two slots
  nothing can be gathered (a thread waits only when both workers are busy, and then no other
  request's windows are queued): that row checks the prototype costs nothing. More slots than
  workers let windows wait to be gathered.

Requests whose speech fits one window are decoded sequentially by the engine and never reach
the pipeline, so this measures gathering for requests of several windows only; putting short
requests into shared batches would also change their decoding (a segment per window).

``--costs`` says why: the model's work per 30 s window, on one thread, when windows are
decoded 1, 2, 4 or 8 to a call: the encoder's part (``WhisperModel.encode`` of the windows'
features) and the whole call (the pipeline with beam 5, as the engine decodes), the fastest of
three tries each.

The gatherer is a prototype that lives here only: it wraps the pipeline's public
``transcribe`` for the run. A request's thread decodes its own windows and fills the call with
others' queued windows, then hands each window's segments back to its owner, timed in the
owner's audio. Each row runs in a fresh process, the rows taking turns over the rounds; the
best of each row counts, and its ratio is to batch 1. The calls' sizes are printed as the
evidence that gathering happened.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE_RATE = 16000
ROWS = {  # batch size, slots, gathered, first window alone
    "engine, batch 1 (0.2.0's sequential decoding), 2 slots": (1, 2, False, False),
    "engine, batch 4, first window alone (as a stream), 2 slots": (4, 2, False, True),
    "engine, batch 4 (serve's default), 2 slots": (4, 2, False, False),
    "engine, batch 4, 4 slots": (4, 4, False, False),
    "engine, batch 4, 8 slots": (4, 8, False, False),
    "gathered, batch 4, 2 slots": (4, 2, True, False),
    "gathered, batch 4, 4 slots": (4, 4, True, False),
    "gathered, batch 4, 8 slots": (4, 8, True, False),
}


@dataclasses.dataclass(eq=False)
class Clip:
    """One window waiting for the model."""

    audio: Any
    key: tuple[Any, ...]
    state: str = "queued"  # then "taken", then "done"
    pieces: list[Any] = dataclasses.field(default_factory=list)
    error: BaseException | None = None


class Gatherer:
    """Windows of every request in one line; a thread decodes its own windows and fills the
    call with others' that decode alike, at most ``workers`` calls at once."""

    def __init__(self, transcribe: Any, size: int, workers: int) -> None:
        self.transcribe = transcribe  # the pipeline's own method
        self.size = size
        self.free = workers
        self.queue: list[Clip] = []
        self.cond = threading.Condition()
        self.sizes: collections.Counter[int] = collections.Counter()

    def decode(self, pipeline: Any, clips: list[Clip]) -> None:
        with self.cond:
            self.queue.extend(clips)
        while True:
            with self.cond:
                while True:
                    if all(c.state == "done" for c in clips):
                        return
                    mine = [c for c in clips if c.state == "queued"]
                    if mine and self.free:
                        batch = mine[: self.size]
                        for other in self.queue:
                            if len(batch) == self.size:
                                break
                            if other.key == batch[0].key and other not in batch:
                                batch.append(other)
                        for clip in batch:
                            clip.state = "taken"
                        self.queue = [c for c in self.queue if c.state == "queued"]
                        self.free -= 1
                        self.sizes[len(batch)] += 1
                        break
                    self.cond.wait(0.05)
            try:
                self.call(pipeline, batch)
            finally:
                with self.cond:
                    for clip in batch:
                        clip.state = "done"
                    self.free += 1
                    self.cond.notify_all()

    def call(self, pipeline: Any, batch: list[Clip]) -> None:
        import numpy as np

        starts = [0, *np.cumsum([len(c.audio) for c in batch]).tolist()]
        bounds = [
            {"start": starts[n] / SAMPLE_RATE, "end": starts[n + 1] / SAMPLE_RATE}
            for n in range(len(batch))
        ]
        language, temperature, prompt = batch[0].key
        try:
            pieces, _ = self.transcribe(
                pipeline,
                np.concatenate([c.audio for c in batch]),
                clip_timestamps=bounds,
                batch_size=len(batch),
                language=language,
                temperature=temperature,
                initial_prompt=prompt,
                vad_filter=False,
                without_timestamps=True,
            )
            for piece in pieces:
                n = max(
                    i for i, b in enumerate(bounds) if i == 0 or b["start"] <= piece.start + 0.01
                )
                offset = bounds[n]["start"]
                batch[n].pieces.append(
                    dataclasses.replace(piece, start=piece.start - offset, end=piece.end - offset)
                )
        except Exception as exc:
            for clip in batch:
                clip.error = exc


def install(gatherer: Gatherer) -> None:
    """Route every call of the pipeline through ``gatherer`` for this run."""
    from faster_whisper import BatchedInferencePipeline

    def gathered(self: Any, audio: Any, **kwargs: Any) -> tuple[Any, Any]:
        bounds = kwargs["clip_timestamps"]
        # tiny.en: a call that leaves the language to the model gets English.
        key = (kwargs["language"] or "en", kwargs["temperature"], kwargs["initial_prompt"])
        clips = [
            Clip(audio[round(b["start"] * SAMPLE_RATE) : round(b["end"] * SAMPLE_RATE)], key)
            for b in bounds
        ]
        gatherer.decode(self, clips)
        out = []
        for clip, bound in zip(clips, bounds, strict=True):
            if clip.error is not None:
                raise clip.error
            out += [
                dataclasses.replace(p, start=p.start + bound["start"], end=p.end + bound["start"])
                for p in clip.pieces
            ]
        info = type("Info", (), {"language": key[0]})()
        return iter(out), info

    BatchedInferencePipeline.transcribe = gathered  # type: ignore[method-assign]


def run_row(size: int, slots: int, gather: bool, streamed: bool, requests: int) -> dict[str, Any]:
    """One row, in this (fresh) process."""
    from faster_whisper import BatchedInferencePipeline
    from wer import word_error_rate

    from transcribe_sdk.local import WhisperEngine
    from transcribe_sdk.local._options import Options

    path = FIXTURES / "long_speech.wav"
    known = json.loads((FIXTURES / "manifest.json").read_text())[path.name]
    engine = WhisperEngine(batch_size=size, num_workers=2)
    options = Options(streamed=streamed)
    engine.transcribe(path, "tiny.en", options)  # loaded and warm
    length = engine.transcribe(path, "tiny.en", Options()).duration
    original = BatchedInferencePipeline.transcribe
    gatherer = Gatherer(original, size, workers=2)
    if gather:
        install(gatherer)
    else:  # the calls counted only

        def counted(self: Any, audio: Any, **kwargs: Any) -> Any:
            with gatherer.cond:
                gatherer.sizes[len(kwargs["clip_timestamps"])] += 1
            return original(self, audio, **kwargs)

        BatchedInferencePipeline.transcribe = counted  # type: ignore[method-assign]
    started = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        texts = list(
            pool.map(lambda _: engine.transcribe(path, "tiny.en", options).text, range(requests))
        )
    wall = time.perf_counter() - started
    return {
        "rate": requests * length / wall,
        "wer": max(word_error_rate(known, text) for text in texts),
        "sizes": dict(sorted(gatherer.sizes.items())),
    }


def costs() -> None:
    """Seconds of model work per window by windows per call, on one thread."""
    import numpy as np
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from transcribe_sdk._audio.decode import decode
    from transcribe_sdk.local._engine import bundled_model_path

    model = WhisperModel(str(bundled_model_path()), compute_type="int8", cpu_threads=1)
    pipeline = BatchedInferencePipeline(model)
    with open(FIXTURES / "long_speech.wav", "rb") as source:
        samples = decode(source)
    window = samples[: 30 * SAMPLE_RATE]  # 30 s of speech
    print("\n| windows per call | encoder s per window | whole call s per window |")
    print("| --- | --- | --- |")
    for size in (1, 2, 4, 8):
        features = np.stack([model.feature_extractor(window)[..., :-1]] * size)
        audio = np.concatenate([window] * size)
        bounds = [{"start": 30.0 * n, "end": 30.0 * (n + 1)} for n in range(size)]
        encode, whole = [], []
        for _ in range(3):
            started = time.perf_counter()
            model.encode(features)
            encode.append(time.perf_counter() - started)
            started = time.perf_counter()
            pieces, _ = pipeline.transcribe(
                audio,
                clip_timestamps=bounds,
                batch_size=size,
                language="en",
                vad_filter=False,
                without_timestamps=True,
            )
            list(pieces)
            whole.append(time.perf_counter() - started)
        print(f"| {size} | {min(encode) / size:.2f} | {min(whole) / size:.2f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the rows (3)")
    parser.add_argument("--requests", type=int, default=8, help="requests per row (8)")
    parser.add_argument("--costs", action="store_true", help="a window's cost by batch size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    if args.costs:
        costs()
        return 0
    if args.child:
        print(json.dumps(run_row(*ROWS[args.child], requests=args.requests)))
        return 0
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, args.rounds)):  # the machine's noise falls on every row alike
        for name in ROWS:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--requests", str(args.requests)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            if name not in best or got["rate"] > best[name]["rate"]:
                best[name] = got
    print(f"\n{args.requests} requests of long_speech.wav at once, best of {args.rounds} rounds:\n")
    print("| decoding | audio s per s | ratio | worst WER | calls (windows: calls) |")
    print("| --- | --- | --- | --- | --- |")
    first = best[next(iter(ROWS))]["rate"]
    for name, row in best.items():
        sizes = ", ".join(f"{k}: {v}" for k, v in row["sizes"].items()) or "none"
        print(
            f"| {name} | {row['rate']:.1f} | {row['rate'] / first:.2f} "
            f"| {row['wer']:.3f} | {sizes} |"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
