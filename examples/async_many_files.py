"""Transcribe many files concurrently with AsyncClient, two ways.

    python examples/async_many_files.py [audio files...]

First AsyncClient.transcribe_many: a concurrency cap, results in input order, a failed file
kept as its error while the others carry on, and a progress callback. Then the same by hand
with asyncio.gather and a semaphore, for when each file needs its own code around the call.
Uses the local engine unless TRANSCRIBE_API_KEY is set.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from transcribe_sdk import AsyncClient, TranscribeError

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"


async def chunks_of(path: Path, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """An async byte source, as a network download or an upload stream would be."""
    data = await asyncio.to_thread(path.read_bytes)
    for start in range(0, len(data), size):
        yield data[start : start + size]


def report(done: int, total: int, item: object) -> None:
    """Called in the event loop as each input finishes (item is its BatchResult)."""
    print(f"  {done}/{total} finished", file=sys.stderr)


async def with_transcribe_many(client: AsyncClient, paths: list[Path]) -> None:
    results = await client.transcribe_many(
        [
            *paths,
            ("streamed.wav", chunks_of(SAMPLE)),  # an async iterator, named by the tuple
            Path("no-such-file.wav"),  # fails alone; the batch goes on
        ],
        model="whisper-large-v3",
        language="en",
        max_concurrency=2,
        on_progress=report,
    )
    for item in results:  # one per input, in input order
        if item.result is not None:
            print(f"#{item.index}: {item.result.text}")
        else:
            print(f"#{item.index}: error: {item.error}")


async def with_gather(client: AsyncClient, paths: list[Path]) -> None:
    limit = asyncio.Semaphore(2)

    async def one(path: Path) -> str:
        async with limit:
            try:
                result = await client.transcribe(path, model="whisper-large-v3", language="en")
            except TranscribeError as exc:
                return f"{path.name}: error: {exc}"
            return f"{path.name}: {result.text}"

    for line in await asyncio.gather(*(one(path) for path in paths)):
        print(line)


async def main() -> int:
    paths = [Path(arg) for arg in sys.argv[1:]] or [SAMPLE, SAMPLE]
    base_url = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"
    # One client for every task: it shares its connection pool, and it is safe to share.
    async with AsyncClient(base_url=base_url) as client:
        print("transcribe_many:")
        await with_transcribe_many(client, paths)
        print("gather with a semaphore:")
        await with_gather(client, paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
