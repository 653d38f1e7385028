"""Choose which providers may serve a transcription, and see which one did.

    python examples/routing.py [path/to/audio]

With TRANSCRIBE_API_KEY set, the request goes to the cortecs.ai router (or TRANSCRIBE_BASE_URL)
and the routing options decide which provider transcribes it. Without a key, the script uses
the local engine, which accepts the routing options and ignores them: it is the only
"provider" there, and it reports itself as "local".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from transcribe_sdk import Client, TranscribeError

SAMPLE = Path(__file__).parent / "audio" / "hello.wav"
ALLOWED = ["ovh", "scaleway"]


def main() -> int:
    audio = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    base_url = None if os.environ.get("TRANSCRIBE_API_KEY") else "local"
    try:
        with Client(base_url=base_url) as client:
            result = client.transcribe(
                audio,
                model="whisper-large-v3",
                language="en",
                preference="speed",  # "speed", "cost" or "balanced" (the router's default)
                allowed_providers=ALLOWED,  # sent as allowed_providers[]=ovh, ...=scaleway
                eu_native=True,  # only providers based and regulated in the EU
                allow_quantization=False,  # no quantized endpoints
                allow_zero_data_retention=True,  # only providers that keep no data
                enable_model_fallback=False,  # fail rather than use another model
                # Fields the SDK has no keyword for are passed on to the provider, encoded by
                # the same rules (True -> "true", lists -> name[] repeated). vad_filter is
                # read by faster-whisper based servers such as speaches; others ignore it.
                extra_body={"vad_filter": True},
            )
    except TranscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.text)
    print(f"served by {result.provider!r} with model {result.model!r}")
    # The router says who served the request; check it when it matters to you.
    if base_url is None and result.provider not in ALLOWED:
        print(f"warning: {result.provider!r} is not one of {ALLOWED}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
