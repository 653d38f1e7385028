"""Who said what: ``diarized_json``, known speakers, and subtitles with speaker labels.

    python examples/diarization.py

Diarizing needs a model that does it (OpenAI's ``gpt-4o-transcribe-diarize``) and its key; so
that this runs anywhere, the answer is scripted with the FakeServer, which also shows what the
request carried: the known speakers' samples as data URLs and ``chunking_strategy="auto"``.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

from transcribe_sdk import to_srt, to_vtt
from transcribe_sdk.testing import FakeServer

HELLO = Path(__file__).parent / "audio" / "hello.wav"


def sample(seconds: float) -> bytes:
    """A few seconds of a speaker (silence here) as WAV bytes: 2 to 10 s are accepted."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\0\0" * int(seconds * 8000))
    return out.getvalue()


ANSWER = {
    "task": "transcribe",
    "duration": 4.2,
    "text": "Hello world. This is a test of the transcription client.",
    "segments": [
        {"id": "seg_0", "start": 0.0, "end": 1.1, "text": "Hello world.", "speaker": "agent"},
        {
            "id": "seg_1",
            "start": 1.3,
            "end": 4.2,
            "text": "This is a test of the transcription client.",
            "speaker": "customer",
        },
    ],
    "usage": {"type": "duration", "seconds": 5},
}


def main() -> int:
    fake = FakeServer()
    fake.add_response(json_body=ANSWER)
    with fake.client() as client:
        result = client.transcribe(
            HELLO,
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            known_speaker_names=["agent", "customer"],
            known_speaker_references=[sample(3), sample(4)],
        )
    sent = fake.requests[0]
    print("sent:", sent.field_list("known_speaker_names"), sent.field("chunking_strategy"))
    print("speakers:", result.speakers)
    for segment in result.segments or []:
        print(f"{segment.start:4.1f}-{segment.end:4.1f}  {segment.speaker}: {segment.text}")
    print(to_srt(result))
    print(to_vtt(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
