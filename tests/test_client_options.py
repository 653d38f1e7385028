"""Client options beyond the basic call: request ids on results, the idempotency key, the retry
policy, key-less servers, a user's http_client timeout, and messages for redirects and vLLM's
error shape."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, BASE_URL
from internals import shells_module
from pytest_httpx import HTTPXMock

from transcribe_sdk import (
    DEFAULT_TIMEOUT,
    APIConnectionError,
    APIStatusError,
    AsyncClient,
    BadRequestError,
    Client,
    InvalidFileError,
    InvalidInputError,
    MissingAPIKeyError,
    RetryPolicy,
    Transcription,
)
from transcribe_sdk.testing import FakeServer

URL = f"{BASE_URL}/audio/transcriptions"


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(shells_module.time, "sleep", slept.append)
    return slept


def test_a_result_carries_its_request_id(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={"text": "hi"}, headers={"x-request-id": "req-42"})
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        result = client.transcribe(hello_wav, model="m")
    assert result.request_id == "req-42"
    # ... without making two equal transcripts unequal
    assert result == Transcription(text="hi")


def test_the_idempotency_key_is_the_same_on_every_attempt_of_a_call(
    httpx_mock: HTTPXMock, hello_wav: Path, no_sleep: list[float]
) -> None:
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(json={"text": "one"})
    httpx_mock.add_response(json={"text": "two"})
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model="m")
        client.transcribe(hello_wav, model="m")
    first, retry, other_call = (r.headers["idempotency-key"] for r in httpx_mock.get_requests())
    assert first == retry
    assert first != other_call
    assert first.startswith("transcribe-sdk-")


def test_a_caller_may_bring_their_own_idempotency_key(
    httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json={"text": "hi"})
    with Client(api_key=API_KEY, base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model="m", extra_headers={"Idempotency-Key": "mine"})
    assert httpx_mock.get_requests()[0].headers["idempotency-key"] == "mine"


def test_the_retry_policy_shapes_the_backoff(
    httpx_mock: HTTPXMock, hello_wav: Path, no_sleep: list[float]
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(json={"text": "hi"})
    policy = RetryPolicy(initial_delay=0.1, max_delay=0.3, jitter=0.0)
    with Client(api_key=API_KEY, base_url=BASE_URL, retry_policy=policy, max_retries=3) as client:
        assert client.transcribe(hello_wav, model="m").text == "hi"
    assert no_sleep == [0.1, 0.2, 0.3]


def test_a_retry_policy_must_be_a_retry_policy() -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, retry_policy={"max_retries": 3})  # type: ignore[arg-type]
    assert info.value.param == "retry_policy"


def test_an_empty_key_means_a_server_without_auth(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(json={"text": "hi"})
    with Client(api_key="", base_url=BASE_URL) as client:
        client.transcribe(hello_wav, model="m")
    assert "authorization" not in httpx_mock.get_requests()[0].headers


def test_an_empty_key_in_the_environment_is_still_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRANSCRIBE_API_KEY", "")
    with pytest.raises(MissingAPIKeyError):
        Client(base_url=BASE_URL)


def test_a_configured_http_client_keeps_its_timeout() -> None:
    mine = httpx.Timeout(30.0, read=900.0)
    with (
        httpx.Client(timeout=mine) as http,
        Client(api_key=API_KEY, base_url=BASE_URL, http_client=http) as client,
    ):
        assert client.timeout == mine
    # httpx's own 5 s default is far too short for audio: ours applies instead.
    with httpx.Client() as http, Client(api_key=API_KEY, base_url=BASE_URL, http_client=http) as c:
        assert c.timeout == DEFAULT_TIMEOUT
    # and an explicit timeout always wins
    with (
        httpx.Client(timeout=mine) as http,
        Client(api_key=API_KEY, base_url=BASE_URL, http_client=http, timeout=12) as client,
    ):
        assert client.timeout == httpx.Timeout(12)


def test_a_redirect_says_where_to_point_base_url(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(status_code=308, headers={"location": "https://example.test/v1/x"})
    client = Client(api_key=API_KEY, base_url=BASE_URL, max_retries=0)
    with client, pytest.raises(APIStatusError) as info:
        client.transcribe(hello_wav, model="m")
    assert info.value.status_code == 308
    assert "https://example.test/v1/x" in str(info.value)
    assert "base_url" in str(info.value)


def test_vllms_top_level_error_shape_is_read(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    body = {"object": "error", "message": "bad file", "type": "BadRequestError", "code": 400}
    httpx_mock.add_response(status_code=400, json=body)
    client = Client(api_key=API_KEY, base_url=BASE_URL)
    with client, pytest.raises(BadRequestError) as info:
        client.transcribe(hello_wav, model="m")
    assert (info.value.error_type, info.value.error_code) == ("BadRequestError", "400")
    assert "bad file" in str(info.value)


def test_a_connection_error_keeps_httpx_cause_for_debugging(
    httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    client = Client(api_key=API_KEY, base_url=BASE_URL, max_retries=0)
    with client, pytest.raises(APIConnectionError) as info:
        client.transcribe(hello_wav, model="m")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.reason == "refused"


def test_fake_server_clients_ignore_a_local_base_url_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRANSCRIBE_BASE_URL", "local")
    server = FakeServer()
    with server.client() as client:
        assert client.transcribe(b"RIFF\0\0\0\0WAVEfmt ", model="m").text
    assert server.requests[0].url.startswith("http://fake-server.invalid/v1/")


@pytest.mark.anyio
async def test_async_results_carry_request_ids_too() -> None:
    server = FakeServer()
    server.add_result("hi")
    async with server.async_client() as client:
        result = await client.transcribe(b"RIFF\0\0\0\0WAVEfmt ", model="m")
    assert result.text == "hi"
    assert result.request_id is None  # FakeServer's results send none; errors do
    assert isinstance(client, AsyncClient)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"initial_delay": -1}, "initial_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"jitter": 2}, "jitter"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retry_after": "60"}, "max_retry_after"),
    ],
)
def test_a_retry_policy_checks_its_values(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


def test_extra_body_cannot_reach_a_typed_list_field_by_its_array_name(
    httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    client = Client(api_key=API_KEY, base_url=BASE_URL)
    with client, pytest.raises(InvalidInputError) as info:
        client.transcribe(hello_wav, model="m", extra_body={"allowed_providers[]": ["x"]})
    assert info.value.param == "extra_body"


def test_one_idempotency_key_cannot_cover_a_whole_batch(hello_wav: Path) -> None:
    server = FakeServer()
    client = server.client()
    with client, pytest.raises(InvalidInputError) as info:
        client.transcribe_many(
            [hello_wav, hello_wav], model="m", extra_headers={"Idempotency-Key": "k"}
        )
    assert info.value.param == "extra_headers"
    assert server.requests == []


def test_an_engine_failure_in_process_is_a_server_error(hello_wav: Path) -> None:
    from transcribe_sdk import InternalServerError
    from transcribe_sdk.local import LocalApp, LocalTransport

    class BrokenEngine:
        default_model = "broken"

        def resolve(self, requested: str | None) -> str:
            return self.default_model

        def start(self, *args: object) -> object:  # the app's entry into the engine
            raise RuntimeError("out of memory")

    transport = LocalTransport(LocalApp(BrokenEngine()))  # type: ignore[arg-type]
    http = httpx.Client(transport=transport)
    client = Client(api_key="", base_url=BASE_URL, http_client=http, max_retries=0)
    with http, client, pytest.raises(InternalServerError) as info:
        client.transcribe(hello_wav, model="m")
    assert "out of memory" in str(info.value)


def test_a_closed_client_says_so(hello_wav: Path) -> None:
    client = Client(api_key=API_KEY, base_url=BASE_URL)
    client.close()
    with pytest.raises(InvalidInputError) as info:
        client.transcribe(hello_wav, model="m")
    assert info.value.param == "client"


def test_a_redirect_is_never_followed_even_by_a_following_http_client(
    httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(status_code=307, headers={"location": f"{BASE_URL}/elsewhere"})
    http = httpx.Client(follow_redirects=True)
    client = Client(api_key=API_KEY, base_url=BASE_URL, http_client=http, max_retries=0)
    with http, client, pytest.raises(APIStatusError) as info:
        client.transcribe(hello_wav, model="m")
    assert info.value.status_code == 307
    assert len(httpx_mock.get_requests()) == 1


def test_a_stream_that_fails_to_read_is_a_file_error() -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls == 1:
                return b"RIFF\0\0\0\0WAVEfmt "
            raise OSError("device unplugged")

    for retries in (0, 2):
        client = FakeServer().client(max_retries=retries)
        with client, pytest.raises(InvalidFileError) as info:
            client.transcribe(Broken(), model="m")
        assert "device unplugged" in str(info.value)


def test_a_password_in_base_url_is_never_shown(httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    httpx_mock.add_response(status_code=400, json={"error": {"message": "no"}})
    url = "http://user:s3cret@127.0.0.1:9/v1"
    client = Client(api_key=API_KEY, base_url=url, max_retries=0)
    assert "s3cret" not in repr(client)
    with client, pytest.raises(BadRequestError) as info:
        client.transcribe(hello_wav, model="m")
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:9/v1" in str(info.value)


def test_a_client_wide_idempotency_key_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        Client(api_key=API_KEY, default_headers={"Idempotency-Key": "same-for-all"})
    assert info.value.param == "default_headers"


def test_numpy_like_floats_and_nul_paths(hello_wav: Path) -> None:
    class Float(float):
        def __repr__(self) -> str:
            return f"np.float64({float(self)!r})"

    server = FakeServer()
    with server.client() as client:
        client.transcribe(hello_wav, model="m", temperature=Float(0.5))
        with pytest.raises(InvalidFileError):
            client.transcribe("bad\0name.wav", model="m")
    assert server.requests[0].field("temperature") == "0.5"


def test_a_split_result_has_the_type_of_an_unsplit_one(tmp_path: Path) -> None:
    from transcribe_sdk import VerboseTranscription

    pytest.importorskip("av")
    server = FakeServer()
    wav = Path(__file__).parent / "fixtures" / "numbers.wav"
    with server.client() as client:
        result = client.transcribe_long(
            wav, model="m", timestamp_granularities=["word"], max_chunk_seconds=2
        )
    assert type(result) is VerboseTranscription
    assert result.words
    assert len(server.requests) > 1
