"""A hostile server's JSON nested past Python's recursion limit (a few kilobytes of ``[``):
every answer the client reads as JSON (an error body, a result, a stream event) must end in one
of the SDK's typed errors, never a ``RecursionError`` from inside ``json``. Real sockets on
127.0.0.1 (``tests/socket_server.py``), sync and async."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from socket_server import JSON, Answer, ScriptedServer

from transcribe_sdk import (
    AsyncClient,
    BadRequestError,
    Client,
    InternalServerError,
    StreamInterruptedError,
    TranscribeError,
    UnexpectedResponseError,
)

pytestmark = pytest.mark.network

HELLO = Path(__file__).parent / "fixtures" / "hello.wav"
SSE = (("Content-Type", "text/event-stream"),)
DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 kB; json gives up at about a thousand levels


def call(kind: str, base_url: str, *, stream: bool) -> Any:
    if kind == "sync":
        with Client(base_url=base_url, api_key="k", max_retries=0) as client:
            answer = client.transcribe(HELLO, model="m", stream=stream)
            return [e.type for e in answer] if stream else answer

    async def main() -> Any:
        async with AsyncClient(base_url=base_url, api_key="k", max_retries=0) as client:
            answer = await client.transcribe(HELLO, model="m", stream=stream)
            return [e.type async for e in answer] if stream else answer

    return anyio.run(main)


CASES = {
    "error body": (Answer(400, JSON, DEEP), False, BadRequestError),
    "nested in an error": (
        Answer(500, JSON, b'{"error": {"message": "busy", "detail": ' + DEEP + b"}}"),
        False,
        InternalServerError,
    ),
    "result": (Answer(200, JSON, b'{"text": "hi", "extra": ' + DEEP + b"}"), False, None),
    "stream event": (
        Answer(200, SSE, b'data: {"type": "error", "error": ' + DEEP + b"}\n\n"),
        True,
        StreamInterruptedError,
    ),
}


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_json_nested_too_deep_is_a_typed_error(kind: str, case: str) -> None:
    answer, stream, expected = CASES[case]
    with ScriptedServer([answer]) as server, pytest.raises(TranscribeError) as raised:
        call(kind, server.base_url, stream=stream)
    assert isinstance(raised.value, expected or UnexpectedResponseError)
    assert len(str(raised.value)) < 2000  # the server's text is shortened, not dumped whole
