"""Which model a request names: the bundled ``tiny.en`` by default, a faster-whisper model
name, or a folder holding a CTranslate2 model. Nothing is loaded here (:mod:`._engine` loads
the models)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_BASE_URL",
    "model_folder",
    "resolve_model",
]

DEFAULT_MODEL = "tiny.en"
"""The name the bundled model answers to."""

LOCAL_BASE_URL = "http://local.invalid/v1"
"""Where requests go inside a client that uses the local engine (``base_url="local"``): they
are answered in-process, and ``.invalid`` never resolves, so nothing could leave the process
even by mistake."""


def model_folder(requested: str) -> bool:
    """Whether ``requested`` names a model folder: a folder written as a path (``./small``,
    ``models/small``, ``~/small``), or a bare name whose folder holds a model file."""
    path = Path(requested).expanduser()
    if not path.is_dir():
        return False
    as_path = requested.startswith((".", "~")) or os.sep in requested or "/" in requested
    return as_path or (path / "model.bin").is_file()


def resolve_model(requested: str | None, default: str) -> str:
    """The model a request's ``model`` field selects, ``default`` when it selects none.

    A faster-whisper model name (``small``) is always that model, even where a folder of
    that name sits in the current directory; a folder is used when it is written as a path
    (``./small``, ``models/small``, ``~/small``) or holds a model (``model.bin``); anything
    else (a hosted model's name such as ``whisper-large-v3``) gets the engine's default.
    """
    from faster_whisper import available_models

    if not requested:
        return default
    if requested in available_models() or model_folder(requested):
        return requested
    return default
