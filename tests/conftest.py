"""Shared fixtures: the speech files under tests/fixtures, a fake API key, and the anyio backend."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trustme

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


# -- TLS on 127.0.0.1, for the https:// test servers -------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 and the file of the CA that signed it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return server, path


@pytest.fixture(params=["http", "https"])
def tls(
    request: pytest.FixtureRequest,
    certificate: tuple[ssl.SSLContext, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> ssl.SSLContext | None:
    """``None`` for plain http; for https the server's context, the CA trusted by clients made
    from now on (``SSL_CERT_FILE``, as httpx's own clients trust one)."""
    if request.param == "http":
        return None
    context, ca = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    return context
