"""Proxies: the ones the environment names, and one given to the SDK's transport.

httpx reads no environment proxies for a client that is given a transport, so the SDK reads
them itself for the clients it makes (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``). The "proxy" here is a loopback server that answers what it is sent: a request
that went through it arrives with the absolute URL of the real target as its path.
"""

from __future__ import annotations

import anyio
import httpx
import pytest
from conftest import API_KEY, FIXTURES
from socket_server import ScriptedServer, json_reply, refused_port

from transcribe_sdk import (
    APIConnectionError,
    AsyncClient,
    AsyncHTTPTransport,
    Client,
    HTTPTransport,
)

pytestmark = pytest.mark.network

MODEL = "whisper-large-v3"
HELLO = FIXTURES / "hello.wav"
TARGET = "http://transcribe.invalid/v1"
"""A host that cannot be reached except through the proxy (``.invalid`` never resolves)."""
WAIT = 20.0


def _answer(request: object) -> object:
    return json_reply({"text": "through the proxy"})


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
def test_an_environment_proxy_carries_the_request(
    no_proxy_env: pytest.MonkeyPatch, variable: str
) -> None:
    with ScriptedServer(_answer) as proxy:
        no_proxy_env.setenv(variable, proxy.url)
        with Client(api_key=API_KEY, base_url=TARGET, timeout=WAIT) as client:
            result = client.transcribe(HELLO, model=MODEL)
    assert result.text == "through the proxy"
    [request] = proxy.requests
    assert request.path == f"{TARGET}/audio/transcriptions"
    assert request.body.endswith(b"--\r\n")  # the whole form went through


@pytest.mark.anyio
async def test_async_an_environment_proxy_carries_the_request(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    with ScriptedServer(_answer) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        async with AsyncClient(api_key=API_KEY, base_url=TARGET) as client:
            with anyio.fail_after(WAIT):
                result = await client.transcribe(HELLO, model=MODEL)
    assert result.text == "through the proxy"
    assert [r.path for r in proxy.requests] == [f"{TARGET}/audio/transcriptions"]


def test_no_proxy_sends_straight_to_the_host(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{refused_port()}")
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    with (
        ScriptedServer(_answer) as server,
        Client(api_key=API_KEY, base_url=server.base_url, timeout=WAIT) as client,
    ):
        assert client.transcribe(HELLO, model=MODEL).text == "through the proxy"
    assert [r.path for r in server.requests] == ["/v1/audio/transcriptions"]


def test_a_proxy_that_is_down_is_a_connection_error(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{refused_port()}")
    with (
        Client(api_key=API_KEY, base_url=TARGET, max_retries=0) as client,
        pytest.raises(APIConnectionError),
    ):
        client.transcribe(HELLO, model=MODEL)


def test_the_transport_takes_a_proxy_for_an_http_client_of_your_own(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    with ScriptedServer(_answer) as proxy:
        http = httpx.Client(
            transport=HTTPTransport(proxy=proxy.url),
            event_hooks={"response": [lambda response: seen.append(response.status_code)]},
        )
        with http, Client(api_key=API_KEY, base_url=TARGET, http_client=http) as client:
            assert client.transcribe(HELLO, model=MODEL).text == "through the proxy"
    assert seen == [200]  # the client's own hooks ran
    assert [r.path for r in proxy.requests] == [f"{TARGET}/audio/transcriptions"]


@pytest.mark.anyio
async def test_async_the_transport_takes_a_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    with ScriptedServer(_answer) as proxy:
        http = httpx.AsyncClient(transport=AsyncHTTPTransport(proxy=proxy.url))
        async with http, AsyncClient(api_key=API_KEY, base_url=TARGET, http_client=http) as c:
            with anyio.fail_after(WAIT):
                assert (await c.transcribe(HELLO, model=MODEL)).text == "through the proxy"
    assert [r.path for r in proxy.requests] == [f"{TARGET}/audio/transcriptions"]
