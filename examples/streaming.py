"""Print a transcript as it arrives: ``stream=True`` and typed events, sync and async.

    python examples/streaming.py [path/to/audio]

With TRANSCRIBE_API_KEY set the file goes to the router; without one, to the local engine,
which answers the whole transcript at once (one ``transcript.text.done`` event), as every
server that does not stream is read. The same loop works for both.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from transcribe_sdk import AsyncClient, Client, TranscribeError
from transcribe_sdk.errors import StreamInterruptedError
from transcribe_sdk.streaming import TranscriptTextDelta, TranscriptTextDone

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"
BASE_URL = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"


def stream_sync(audio: Path) -> str:
    with Client(base_url=BASE_URL) as client:
        stream = client.transcribe(audio, model="gpt-4o-mini-transcribe", stream=True)
        with stream:
            for event in stream:
                # isinstance narrows the event's type for type checkers; event.type works too
                if isinstance(event, TranscriptTextDelta):
                    print(event.delta, end="", flush=True, file=sys.stderr)
                elif isinstance(event, TranscriptTextDone):
                    print(file=sys.stderr)
                    return event.text
    return stream.text


async def stream_async(audio: Path) -> str:
    async with AsyncClient(base_url=BASE_URL) as client:
        stream = await client.transcribe(audio, model="gpt-4o-mini-transcribe", stream=True)
        async with stream:
            async for event in stream:
                if isinstance(event, TranscriptTextDone):
                    return event.text
    return stream.text


def main() -> int:
    audio = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    try:
        print(stream_sync(audio))
        print(asyncio.run(stream_async(audio)))
    except StreamInterruptedError as exc:
        print(f"the stream broke off; it had said: {exc.text!r}", file=sys.stderr)
        return 1
    except TranscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
