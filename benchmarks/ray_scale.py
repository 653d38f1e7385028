"""Files per second on Ray with 1, 2 and 4 actors against ``transcribe_many`` in one process.

Run on demand (pytest does not collect this folder); needs the ``ray`` extra::

    /work/wt/<tree>/.venv/bin/python benchmarks/ray_scale.py                 # both parts
    /work/wt/<tree>/.venv/bin/python benchmarks/ray_scale.py --files 200 --service 0.2
    /work/wt/<tree>/.venv/bin/python benchmarks/ray_scale.py --skip-local

Part 1, a server with a fixed service time: a loopback server on 127.0.0.1 answers every
request after ``--service`` seconds, whatever else it is doing (a thread per connection), like
a provider whose latency does not depend on load. Every variant works under the same limit,
``--max-in-flight`` requests at once: ``transcribe_many(max_concurrency=N)`` in this process,
then ``transcribe_dataset`` with 1, 2, 4 and 8 actors, each sending a batch of ``--batch-size``
files at once, behind ``RateLimit(max_in_flight=N)``. The ceiling is N / service files/s.

Part 2, the local engine (Whisper tiny.en, compute-bound): ``--local-files`` copies of
``examples/audio/hello.wav``, one process with ``transcribe_many`` against 1, 2 and 4 actors
of one CPU each.

The cluster is a local one (``ray.init(num_cpus=4)`` by default: logical CPUs, so that 8
actors of 0.25 fit; no dashboard); its start-up is reported
on its own and not counted. Each figure includes the actors' start (a Ray job pays it once per
dataset); "steady files/s" leaves it out (from the first request's arrival to the last
answer). The load average is printed: other processes' work shows in the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from loopback import LoopbackServer, Recorded, Reply, json_reply  # noqa: E402

from transcribe_sdk import Client  # noqa: E402

SAMPLE = ROOT / "examples" / "audio" / "hello.wav"


def _server(service: float) -> LoopbackServer:
    def answer(request: Recorded) -> Reply:
        time.sleep(service)
        return json_reply({"text": "ok", "duration": 1.0})

    return LoopbackServer(answer)


def _items(count: int) -> list[dict[str, Any]]:
    return [{"path": f"f{i}.wav", "bytes": f"RIFF{i:08}".encode() * 128} for i in range(count)]


def _one_process(base_url: str, count: int, limit: int, api_key: str | None) -> float:
    with Client(base_url=base_url, api_key=api_key) as client:
        files = [(item["path"], item["bytes"]) for item in _items(count)] if api_key else []
        if not api_key:  # the local engine: real audio
            files = [(f"hello{i}.wav", SAMPLE.read_bytes()) for i in range(count)]
        started = time.monotonic()
        results = client.transcribe_many(files, model=MODEL[0], max_concurrency=limit)
        took = time.monotonic() - started
    failed = sum(not r.ok for r in results)
    if failed:
        raise SystemExit(f"{failed} files failed in one process: {results[0].error}")
    return count / took


def _on_ray(
    base_url: str,
    items: list[dict[str, Any]],
    *,
    actors: int,
    batch: int,
    limit: Any,
    key: str | None,
) -> float:
    import ray

    from transcribe_sdk.ray import transcribe_dataset

    ds = ray.data.from_items(items)
    started = time.monotonic()
    out = transcribe_dataset(
        ds,
        model=MODEL[0],
        base_url=base_url,
        api_key=key,
        rate_limit=limit,
        concurrency=actors,
        batch_size=batch,
    )
    rows = out.take_all()
    took = time.monotonic() - started
    failed = [r for r in rows if r["error"] is not None]
    if failed or len(rows) != len(items):
        raise SystemExit(f"{len(failed)} of {len(rows)} rows failed on Ray: {failed[:1]}")
    return len(items) / took


MODEL = ["whisper-1"]


def _steady(requests: list[Recorded], service: float) -> float:
    """Files/s between the first request's arrival and the last one's answer: the rate once
    the actors are up (their start is left out)."""
    if len(requests) < 2:
        return 0.0
    span = requests[-1].finished + service - requests[0].started
    return len(requests) / span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=240, help="files per run (part 1)")
    parser.add_argument("--service", type=float, default=0.2, help="server seconds per request")
    parser.add_argument("--max-in-flight", type=int, default=16, help="the shared limit")
    parser.add_argument("--batch-size", type=int, default=8, help="files an actor sends at once")
    parser.add_argument("--local-files", type=int, default=12, help="files per run (part 2)")
    parser.add_argument("--skip-local", action="store_true", help="only part 1")
    parser.add_argument("--num-cpus", type=int, default=4, help="CPUs of the local cluster")
    args = parser.parse_args()

    import ray

    from transcribe_sdk.ray import RateLimit

    print(f"load average before: {os.getloadavg()}")
    started = time.monotonic()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    print(f"ray.init: {time.monotonic() - started:.1f} s (not counted below)")
    try:
        n, service = args.max_in_flight, args.service
        print(f"\n## fixed service time {service} s, max_in_flight={n}, {args.files} files")
        print(f"ceiling: {n / service:.1f} files/s\n")
        print("| variant | files/s | steady files/s |\n| --- | ---: | ---: |")
        with _server(service) as server:
            rate = _one_process(server.base_url, args.files, n, "sk-bench")
            steady = _steady(server.requests, service)
            print(
                f"| transcribe_many, one process, max_concurrency={n} | {rate:.1f} | {steady:.1f} |"
            )
            for actors in (1, 2, 4, 8):
                limit = RateLimit(max_in_flight=n, name=f"bench-{actors}")
                before = len(server.requests)
                rate = _on_ray(
                    server.base_url,
                    _items(args.files),
                    actors=actors,
                    batch=args.batch_size,
                    limit=limit,
                    key="sk-bench",
                )
                steady = _steady(server.requests[before:], service)
                print(
                    f"| Ray, {actors} actor(s) x batch {args.batch_size} | {rate:.1f} "
                    f"| {steady:.1f} |"
                )
        if not args.skip_local:
            MODEL[0] = "tiny.en"
            count = args.local_files
            print(f"\n## local engine (tiny.en), {count} x hello.wav\n")
            print("| variant | files/s |\n| --- | ---: |")
            warm = _one_process("local", 1, 1, None)  # loads the model in this process
            del warm
            rate = _one_process("local", count, 2, None)
            print(f"| transcribe_many, one process, max_concurrency=2 | {rate:.2f} |")
            items = [{"path": f"hello{i}.wav", "bytes": SAMPLE.read_bytes()} for i in range(count)]
            for actors in (1, 2, 4):
                rate = _on_ray("local", items, actors=actors, batch=1, limit=None, key=None)
                print(f"| Ray, {actors} actor(s) of 1 CPU, batch 1 | {rate:.2f} |")
    finally:
        ray.shutdown()
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
