"""Transcription on this machine, behind the same API as a remote server.

Select it with ``base_url="local"`` (or ``TRANSCRIBE_BASE_URL=local``); ``local://small`` or
``local:///path/to/model`` names another faster-whisper model. Needs the ``local`` extra:
``pip install -e '.[local]'`` in a clone of transcribe-sdk (it is not on PyPI yet).

Example::

    from transcribe_sdk import Client

    with Client(base_url="local") as client:
        print(client.transcribe("hello.wav", model="tiny.en").text)
"""

from typing import TYPE_CHECKING

from ._engine import LocalEngineUnavailable, WhisperEngine, shared_engine
from ._models import DEFAULT_MODEL, LOCAL_BASE_URL
from ._progress import DecodingProgress, decoding_progress

if TYPE_CHECKING:
    from ._app import LocalApp
    from ._inprocess import LocalTransport
else:
    # The app and transport pull in the response models (pydantic); they load on first use so
    # that importing transcribe_sdk stays cheap for the many users who never run locally.
    def __getattr__(name: str) -> object:
        if name == "LocalApp":
            from ._app import LocalApp

            return LocalApp
        if name == "LocalTransport":
            from ._inprocess import LocalTransport

            return LocalTransport
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_BASE_URL",
    "DecodingProgress",
    "LocalApp",
    "LocalEngineUnavailable",
    "LocalTransport",
    "WhisperEngine",
    "decoding_progress",
    "shared_engine",
]
