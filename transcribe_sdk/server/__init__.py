"""``transcribe-sdk serve``: the local Whisper engine as an OpenAI-compatible HTTP server.

A Starlette app run by uvicorn, with uploads parsed by python-multipart and spooled to disk;
the request handling is the local engine's own, shared with the in-process
``base_url="local"`` transport. Needs the ``local`` extra. See ``docs/server.md``::

    transcribe-sdk serve --port 8000
    curl -F file=@hello.wav -F model=whisper-1 http://127.0.0.1:8000/v1/audio/transcriptions
"""

from ._settings import ServerSettings

__all__ = ["ServerSettings"]
