"""What the form carries, read back by a real server on 127.0.0.1 (``tests/socket_server.py``):
an object ``chunking_strategy`` as one JSON-text field, header values built from user input
escaped or refused before a byte is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from conftest import API_KEY, FIXTURES
from socket_server import Recorded
from socket_server import ScriptedServer as LoopbackServer

from transcribe_sdk import AsyncClient, Client

pytestmark = pytest.mark.network

HELLO = FIXTURES / "hello.wav"
VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def send(server: LoopbackServer, kind: str, file: Any = HELLO, **kwargs: Any) -> Recorded:
    if kind == "sync":
        with Client(api_key=API_KEY, base_url=server.base_url, max_retries=0) as client:
            client.transcribe(file, model="m", **kwargs)
    else:

        async def main() -> None:
            async with AsyncClient(
                api_key=API_KEY, base_url=server.base_url, max_retries=0
            ) as client:
                await client.transcribe(file, model="m", **kwargs)

        anyio.run(main)
    return server.requests[-1]


# -- 8. chunking_strategy -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_object_chunking_strategy_is_one_json_text_field(
    server: LoopbackServer, kind: str
) -> None:
    form = send(server, kind, chunking_strategy=VAD).form()
    names = [name for name, _ in form.fields()]
    assert names.count("chunking_strategy") == 1
    assert not any(name.startswith("chunking_strategy[") for name in names)
    assert json.loads(form.field("chunking_strategy") or "") == VAD


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_stays_a_plain_string(server: LoopbackServer, kind: str) -> None:
    assert send(server, kind, chunking_strategy="auto").form().field("chunking_strategy") == "auto"


# -- 6. header values built from user input -------------------------------------------------------
NASTY = 'a\x00b\r\nX-Injected: 1\x1b\x7f"q"\\C:\\x.wav'


def _head_lines(request: Recorded) -> list[bytes]:
    body = request.body
    boundary = (request.header("content-type") or "").split("boundary=")[1].encode()
    lines = []
    for part in body.split(b"--" + boundary)[1:-1]:
        head = part.split(b"\r\n\r\n", 1)[0]
        lines += [line for line in head.split(b"\r\n") if line]
    return lines


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_filename_with_controls_quotes_and_backslashes_is_percent_encoded(
    server: LoopbackServer, kind: str
) -> None:
    wav = HELLO.read_bytes()
    request = send(server, kind, (NASTY, wav), extra_body={'odd"\x00name': "v"})
    lines = _head_lines(request)
    # Every part's header line is one line of text, without a control character.
    assert all(not any(b < 0x20 or b == 0x7F for b in line) for line in lines)
    assert not any(line.startswith(b"X-Injected") for line in lines)
    form = request.form()
    assert form.file().filename == "a%00b%0D%0AX-Injected: 1%1B%7F%22q%22%5CC:%5Cx.wav"
    assert form.file().data == wav
    assert ("odd%22%00name", "v") in form.fields()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_content_type_that_would_break_the_header_is_refused_before_sending(
    server: LoopbackServer, kind: str
) -> None:
    from transcribe_sdk import InvalidFileError

    wav = HELLO.read_bytes()
    with pytest.raises(InvalidFileError, match="is not a media type"):
        send(server, kind, ("a.wav", wav, "audio/wav\r\nX-Injected: 1"))
    assert server.requests == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_header_value_with_a_line_break_is_refused_before_sending(
    server: LoopbackServer, kind: str
) -> None:
    from transcribe_sdk import InvalidInputError

    with pytest.raises(InvalidInputError, match="extra_headers"):
        send(server, kind, extra_headers={"Idempotency-Key": "k\r\nX-Injected: 1"})
    assert server.requests == []
