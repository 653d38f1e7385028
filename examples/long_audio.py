"""Transcribe audio longer than a provider accepts: split at quiet points, then stitch.

    python examples/long_audio.py

Builds a longer recording by repeating the sample with two seconds of silence after each copy
(the standard library's wave module, in a temporary folder), then asks transcribe_long for
pieces of at most 7 seconds, so it splits. Splitting needs the `split` extra:
`pip install -e '.[split]'` in a clone. Uses the local engine unless TRANSCRIBE_API_KEY is set.
"""

from __future__ import annotations

import os
import sys
import tempfile
import wave
from pathlib import Path

from transcribe_sdk import Client, TranscribeError

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"


def make_long_wav(target: Path, copies: int = 3, silence_seconds: float = 2.0) -> float:
    """Write ``copies`` of the sample, each followed by silence, to ``target``; its length."""
    with wave.open(str(SAMPLE), "rb") as source:
        params = source.getparams()
        speech = source.readframes(params.nframes)
    frame_bytes = params.sampwidth * params.nchannels
    silence = b"\x00" * (int(params.framerate * silence_seconds) * frame_bytes)
    with wave.open(str(target), "wb") as out:
        out.setparams(params)
        for _ in range(copies):
            out.writeframes(speech + silence)
        return out.getnframes() / params.framerate


def progress(pieces_done: int, seconds_done: float) -> None:
    print(f"  {pieces_done} piece(s) done, {seconds_done:.1f} s of audio", file=sys.stderr)


def main() -> int:
    base_url = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"
    with tempfile.TemporaryDirectory() as folder:
        audio = Path(folder) / "long.wav"
        length = make_long_wav(audio)
        print(f"{audio.name}: {length:.1f} s")
        try:
            with Client(base_url=base_url) as client:
                result = client.transcribe_long(
                    audio,
                    model="whisper-large-v3",
                    language="en",
                    response_format="verbose_json",  # keeps the pieces in model_extra
                    max_chunk_seconds=7,  # real use: minutes, or leave the 25 MB size limit
                    max_concurrency=2,  # pieces sent at once
                    on_progress=progress,
                )
        except TranscribeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    # Where each piece started in the whole file, how long it was, and who served it.
    chunks = (result.model_extra or {}).get("chunks", [])
    for number, chunk in enumerate(chunks, start=1):
        print(
            f"piece {number}: starts at {chunk['start']:5.2f} s, "
            f"lasts {chunk['duration']:5.2f} s, served by {chunk['provider']}"
        )
    # Segment times are measured from the start of the whole file, not of each piece.
    for segment in result.segments or []:
        print(f"  {segment.start:6.2f}-{segment.end:6.2f} {segment.text.strip()}")
    print(f"total: {result.duration} s; text: {result.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
