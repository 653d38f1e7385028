"""Transcription on this machine, behind the same API as a remote server.

Select it with ``base_url="local"`` (or ``TRANSCRIBE_BASE_URL=local``); ``local://small`` or
``local:///path/to/model`` names another faster-whisper model. Needs the ``local`` extra:
``pip install 'transcribe-sdk[local]'``.

Example::

    from transcribe_sdk import Client

    with Client(base_url="local") as client:
        print(client.transcribe("hello.wav", model="tiny.en").text)
"""

from ._app import LocalApp
from ._engine import DEFAULT_MODEL, LocalEngineUnavailable, WhisperEngine, shared_engine
from ._transport import LOCAL_BASE_URL, LocalTransport

__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_BASE_URL",
    "LocalApp",
    "LocalEngineUnavailable",
    "LocalTransport",
    "WhisperEngine",
    "shared_engine",
]
