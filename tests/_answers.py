"""Answers real servers give to ``POST /audio/transcriptions``, shared by the client tests.

Shapes follow what each server sends: the router's ``json``, OpenAI's ``verbose_json`` with word
timestamps, vLLM's string ``duration``, Groq's extra ``x_groq``, Mistral's segments with
``type``/``speaker_id`` and a null ``language``, and error pages from proxies in front of them.
"""

from __future__ import annotations

from typing import Any

MODEL = "whisper-large-v3"
HELLO = "Hello world. This is a test of the transcription client."

ROUTER_JSON: dict[str, Any] = {
    "id": "1234567890",
    "object": "audio.transcription",
    "created": 1715155200,
    "provider": "ovh",
    "model": MODEL,
    "text": HELLO,
    "language": "en",
    "segments": None,
}

OPENAI_VERBOSE: dict[str, Any] = {
    "task": "transcribe",
    "language": "english",
    "duration": 3.52,
    "text": HELLO,
    "words": [
        {"word": "Hello", "start": 0.0, "end": 0.42},
        {"word": "world", "start": 0.42, "end": 0.88},
    ],
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 1.1,
            "text": " Hello world.",
            "tokens": [50364, 2425, 1002, 13, 50419],
            "temperature": 0.0,
            "avg_logprob": -0.2861,
            "compression_ratio": 0.8333,
            "no_speech_prob": 0.0123,
        },
        {
            "id": 1,
            "seek": 0,
            "start": 1.1,
            "end": 3.52,
            "text": " This is a test of the transcription client.",
            "tokens": [50419, 639, 307, 257, 1500, 295, 264, 35288, 6423, 13, 50540],
            "temperature": 0.0,
            "avg_logprob": -0.1734,
            "compression_ratio": 0.9512,
            "no_speech_prob": 0.0045,
        },
    ],
    "usage": {"type": "duration", "seconds": 4},
}

VLLM_VERBOSE: dict[str, Any] = {
    "text": HELLO,
    "language": "en",
    "duration": "5.0",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 5.0,
            "text": HELLO,
            "tokens": [0],
            "temperature": 0.0,
            "avg_logprob": 0.0,
            "compression_ratio": 0.0,
            "no_speech_prob": 0.0,
        }
    ],
    "words": None,
}

GROQ_VERBOSE: dict[str, Any] = {
    "task": "transcribe",
    "language": "English",
    "duration": 3.52,
    "text": " " + HELLO,
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0,
            "end": 3.52,
            "text": " " + HELLO,
            "tokens": [50365, 2425, 1002, 13],
            "temperature": 0,
            "avg_logprob": -0.21,
            "compression_ratio": 0.93,
            "no_speech_prob": 0.0061,
        }
    ],
    "x_groq": {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"},
}

MISTRAL_VERBOSE: dict[str, Any] = {
    "model": "voxtral-mini-2507",
    "text": HELLO,
    "language": None,
    "segments": [
        {
            "text": "Hello world.",
            "start": 0.0,
            "end": 1.1,
            "type": "transcription_segment",
            "speaker_id": None,
        },
        {
            "text": "This is a test of the transcription client.",
            "start": 1.1,
            "end": 3.5,
            "type": "transcription_segment",
            "speaker_id": None,
        },
    ],
    "usage": {
        "prompt_audio_seconds": 4,
        "prompt_tokens": 4,
        "total_tokens": 92,
        "completion_tokens": 18,
    },
}

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)
CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html lang='en-US'><head><title>Just a moment...</title>"
    "<style>body{color:red}</style><script>var x = '<b>';</script></head>"
    "<body><div class='main'><noscript>Enable JavaScript</noscript></div></body></html>"
)
