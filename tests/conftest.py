"""Shared fixtures: the speech files under tests/fixtures, a fake API key, and the anyio backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
API_KEY = "sk-test-0123456789abcdefSECRET"
"""A key that must never show up in any output; tests grep for it."""
BASE_URL = "http://127.0.0.1:9/v1"
"""An address nothing listens on: mocked tests never reach it, and a leak would fail fast."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def manifest() -> dict[str, str]:
    data: dict[str, str] = json.loads((FIXTURES / "manifest.json").read_text())
    return data


@pytest.fixture
def hello_wav() -> Path:
    return FIXTURES / "hello.wav"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not pick up a developer's real key or base URL.
    monkeypatch.delenv("TRANSCRIBE_API_KEY", raising=False)
    monkeypatch.delenv("TRANSCRIBE_BASE_URL", raising=False)
