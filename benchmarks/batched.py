"""Batched against sequential decoding: bare faster-whisper, the local engine and ``serve``.

Run on demand (pytest does not collect this folder), from the repository root::

    python benchmarks/batched.py                 # everything, about 3 minutes on 2 cores
    python benchmarks/batched.py --quick         # the 63 s fixture instead of the 297 s file
    python benchmarks/batched.py --no-serve      # the in-process rows only

In one run, side by side, on one file of known text (``tests/fixtures``' ``long_speech.wav``,
``numbers.wav`` and ``hello.wav`` four times over, half a second of silence after each: 297 s):

- **bare sequential**: ``WhisperModel(...).transcribe(audio, vad_filter=True)``;
- **bare batched**: ``BatchedInferencePipeline(model).transcribe(audio, batch_size=4)`` (its
  own voice detection and 30 s chunks);
- **engine, batch N**: ``WhisperEngine(batch_size=N)``, the engine behind ``base_url="local"``,
  ``serve`` and ``--local`` (N = 1 is sequential), as a whole answer gets it (the first window
  in the first batch); **stream** is batch 4 as a stream gets it (``stream=true``: the first
  window alone).

Each row runs in a fresh process (``--repeat N``: N rounds over the rows, the fastest of each
row counts): the model is loaded and warmed on ``hello.wav`` first (and the engine's batched
path on ``long_speech.wav``), then the file is transcribed once and timed,
segment by segment as the decoder gives them: **first segment** is when the first one arrived.
**peak RSS** is the process's high-water mark at the end (``ru_maxrss``: the model, the decoded
audio and the decoding). **WER** is against the known text (``tests/wer.py``); **ratio** is the
time over bare sequential's in the same run.

Then ``transcribe-sdk serve``: four clients each post ``long_speech.wav`` (63 s) twice at the
same time, with ``--batch-size 1`` (0.2.0's sequential decoding), with the defaults
(``--batch-size 4``, CTranslate2's own thread count: 2 a slot on 2 cores), and with
``--cpu-threads`` the cores shared by the two slots; the rows take turns (``--repeat N``
rounds, the best of each counts).
The table gives the audio seconds answered per wall-clock second and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PIECES = ("long_speech.wav", "numbers.wav", "hello.wav")
ENGINE_ROWS = ("engine-1", "engine-4", "engine-4-stream", "engine-8")


def build_long(path: Path, copies: int) -> str:
    """Write the long file; its known text."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    texts = []
    with wave.open(str(path), "wb") as out:
        for copy in range(copies):
            for name in PIECES:
                with wave.open(str(FIXTURES / name), "rb") as source:
                    if copy == 0 and name == PIECES[0]:
                        out.setparams(source.getparams())
                    out.writeframes(source.readframes(source.getnframes()))
                    silence = source.getframerate() // 2 * source.getsampwidth()
                out.writeframes(b"\0" * silence)
                texts.append(manifest[name])
    return " ".join(texts)


def run_variant(variant: str, audio: str) -> dict[str, float]:
    """One row, in this (fresh) process."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from transcribe_sdk.local import WhisperEngine
    from transcribe_sdk.local._engine import bundled_model_path
    from transcribe_sdk.local._options import Options

    hello = str(FIXTURES / "hello.wav")
    first: list[float] = []
    if variant.startswith("engine"):
        engine = WhisperEngine(batch_size=int(variant.split("-")[1]))
        options = Options(streamed=variant.endswith("-stream"))
        engine.transcribe(hello, "tiny.en", options)
        engine.transcribe(FIXTURES / "long_speech.wav", "tiny.en", options)

        def call() -> str:
            # Segment by segment, as the engine gives them: the first one's time is recorded.
            texts = []
            for segment in engine.start(audio, "tiny.en", options):
                first.append(time.perf_counter())
                texts.append(segment["text"])
            return "".join(texts).strip()

    else:
        model = WhisperModel(str(bundled_model_path()), compute_type="int8", num_workers=2)
        pipeline = BatchedInferencePipeline(model)

        def decode(path: str) -> str:
            if variant == "bare-batched":
                segments, _ = pipeline.transcribe(path, batch_size=4)
            else:
                segments, _ = model.transcribe(path, vad_filter=True)
            texts = []
            for segment in segments:
                first.append(time.perf_counter())
                texts.append(segment.text)
            return "".join(texts).strip()

        decode(hello)
        decode(str(FIXTURES / "long_speech.wav"))
        first.clear()

        def call() -> str:
            return decode(audio)

    started = time.perf_counter()
    text = call()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    to_first = first[0] - started if first else float("nan")
    return {"seconds": seconds, "first": to_first, "peak_mb": peak, "text": text}  # type: ignore[dict-item]


def _in_child(variant: str, audio: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--audio", audio],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def serve_rate(
    batch_size: int, clients: int, requests: int, threads: int = 0
) -> tuple[float, float, float]:
    """Audio seconds answered per second, the server's peak RSS (MB) and the worst WER.
    ``threads``: ``--cpu-threads`` (0: CTranslate2's choice)."""
    import httpx
    from wer import word_error_rate

    audio = FIXTURES / "long_speech.wav"
    known = json.loads((FIXTURES / "manifest.json").read_text())["long_speech.wav"]
    with wave.open(str(audio), "rb") as source:
        length = source.getnframes() / source.getframerate()
    data = audio.read_bytes()
    command = Path(sys.executable).with_name("transcribe-sdk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("OMP_NUM_THREADS", None)
    flags = ["--port", "0", "--queue-timeout", "600", "--batch-size", str(batch_size)]
    flags += ["--cpu-threads", str(threads)]
    server = subprocess.Popen(
        [str(command), "serve", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    worst = 0.0
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        port = int(banner.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        url = f"http://127.0.0.1:{port}/v1/audio/transcriptions"
        form = {"model": "whisper-1", "response_format": "text"}
        httpx.post(url, files={"file": ("a.wav", data)}, data=form, timeout=600)

        def one_client() -> float:
            rates = 0.0
            with httpx.Client(timeout=600) as http:
                for _ in range(requests):
                    answer = http.post(url, files={"file": ("a.wav", data)}, data=form)
                    answer.raise_for_status()
                    rates = max(rates, word_error_rate(known, answer.text))
            return rates

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            worst = max(pool.map(lambda _: one_client(), range(clients)))
        wall = time.perf_counter() - started
        peak = _status_kb(server.pid, "VmHWM") / 1024
    finally:
        server.terminate()
        server.wait(30)
    return clients * requests * length / wall, peak, worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 63 s fixture only")
    parser.add_argument("--no-serve", action="store_true", help="skip the serve rows")
    parser.add_argument(
        "--repeat", type=int, default=1, help="fresh processes per row; the fastest counts (1)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    if args.child:
        result = run_variant(args.child, args.audio)
        print(json.dumps(result))
        return 0
    from wer import word_error_rate

    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        if args.quick:
            audio = FIXTURES / "long_speech.wav"
            known = json.loads((FIXTURES / "manifest.json").read_text())[audio.name]
        else:
            audio = Path(folder) / "long.wav"
            known = build_long(audio, copies=4)
        with wave.open(str(audio), "rb") as source:
            length = source.getnframes() / source.getframerate()
        print(f"\n{audio.name}: {length:.1f} s, {len(known.split())} known words\n")
        print("| decoder | seconds | ratio | first segment (s) | words | WER | peak RSS (MB) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        variants = ["bare-sequential", "bare-batched", *ENGINE_ROWS]
        runs: dict[str, list[dict[str, object]]] = {variant: [] for variant in variants}
        for _ in range(max(1, args.repeat)):  # rounds over the rows: the machine's noise
            for variant in variants:  # falls on every row alike
                runs[variant].append(_in_child(variant, str(audio)))
        base = None
        for variant in variants:
            row = min(runs[variant], key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
            seconds = float(row["seconds"])  # type: ignore[arg-type]
            base = base or seconds
            text = str(row["text"])
            print(
                f"| {variant} | {seconds:.1f} | {seconds / base:.2f} "
                f"| {float(row['first']):.1f} | {len(text.split())} "  # type: ignore[arg-type]
                f"| {word_error_rate(known, text):.3f} | {float(row['peak_mb']):.0f} |",  # type: ignore[arg-type]
                flush=True,
            )
    if not args.no_serve:
        print("\n| serve | audio s per s | ratio | peak RSS (MB) | worst WER |")
        print("| --- | --- | --- | --- | --- |")
        if hasattr(os, "sched_getaffinity"):
            cpus = len(os.sched_getaffinity(0))
        else:
            cpus = os.cpu_count() or 1
        rows = {
            "`--batch-size 1` (0.2.0's sequential decoding)": (1, 0),
            "defaults (`--batch-size 4`, `--cpu-threads 0`)": (4, 0),
            f"`--cpu-threads {max(1, cpus // 2)}` (the cores shared by the two slots)": (
                4,
                max(1, cpus // 2),
            ),
        }
        best: dict[str, tuple[float, float, float]] = {}
        for _ in range(max(1, args.repeat)):  # rounds over the rows: the machine's noise
            for name, (size, threads) in rows.items():  # falls on every row alike
                got = serve_rate(size, clients=4, requests=2, threads=threads)
                best[name] = max(best.get(name, got), got)
        first = best[next(iter(rows))][0]
        for name, (rate, peak, worst) in best.items():
            print(
                f"| {name}, 4 clients | {rate:.1f} | {rate / first:.2f} "
                f"| {peak:.0f} | {worst:.3f} |",
                flush=True,
            )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
