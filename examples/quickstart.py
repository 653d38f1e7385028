"""Transcribe one audio file and print the text.

    python examples/quickstart.py [path/to/audio]

With TRANSCRIBE_API_KEY set, the file goes to the router (TRANSCRIBE_BASE_URL, default
https://api.cortecs.ai/v1). Without a key, this script chooses the local Whisper engine
(`pip install -e '.[local]'` in a clone), which runs offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from transcribe_sdk import Client, TranscribeError

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"


def main() -> int:
    audio = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    # The choice of engine is made here, explicitly: the SDK never falls back on its own.
    base_url = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"
    asked = "whisper-large-v3"
    try:
        with Client(base_url=base_url) as client:
            result = client.transcribe(audio, model=asked, language="en")
    except TranscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.text)  # stdout: the transcript only; notes go to stderr
    print(f"(served by {result.provider}, model {result.model})", file=sys.stderr)
    if base_url == "local" and result.model != asked:
        print(
            f"(no TRANSCRIBE_API_KEY, so the local engine ran offline: it runs its own model, "
            f"{result.model}, whatever model is asked for; {asked} is for the router)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
