"""What a LiteLLM-shaped router says about a request: the route and cost on every result, its
named wait honoured, and the quality flags (incomplete transcript, language mismatch).

The contract runs through pytest-httpx (sync and async, every path); one test goes through a
real socket on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from internals import (
    Call,
    Exchange,
    RateGate,
    Send,
    Wait,
    build_params,
    call_flow,
    parse_router_wait,
    record_sleeps,
    route_from_headers,
    settle,
)
from pytest_httpx import HTTPXMock
from socket_server import ScriptedServer, json_reply

from transcribe_sdk import (
    APIStatusError,
    AsyncClient,
    Client,
    IncompleteTranscriptWarning,
    LanguageMismatchWarning,
    RateLimitError,
    RetryPolicy,
    Route,
    Transcription,
    VerboseTranscription,
    prepare_file,
    total_cost,
)

pytestmark = pytest.mark.anyio

BASE_URL = "http://router.test/v1"
URL = f"{BASE_URL}/audio/transcriptions"
MODEL = "whisper-large-v3"

# What a LiteLLM proxy sends with a transcription (names in its own mixed case).
LITELLM_HEADERS = {
    "content-type": "application/json",
    "x-litellm-call-id": "call-7f3a",
    "X-LiteLLM-Model-Id": "9b2c-deployment",
    "x-litellm-model-group": "whisper-large-v3",
    "x-litellm-model-api-base": "https://whisper.eu-west.ovh.example/v1",
    "x-litellm-attempted-retries": "1",
    "x-litellm-attempted-fallbacks": "0",
    "x-litellm-response-duration-ms": "812.5",
    "x-litellm-response-cost": "0.0006",
    "llm_provider-x-request-id": "ovh-123",
    "llm_provider-Server": "uvicorn",
}
COOLING = {
    "error": {
        "message": "No deployments available for selected model, Try again in 2 seconds. "
        "Passed model=whisper-large-v3. pre-call-checks=False",
        "type": "None",
        "param": "None",
        "code": "429",
    }
}


def body(**fields: Any) -> dict[str, Any]:
    return {"text": "Hallo zusammen", "language": "de", **fields}


def verbose(**fields: Any) -> dict[str, Any]:
    full = {"duration": 10.0, "segments": [{"id": 0, "start": 0.0, "end": 9.5, "text": "Hallo"}]}
    return body(**{**full, **fields})


def assert_route(route: Route) -> None:
    assert route.deployment_id == "9b2c-deployment"
    assert route.model_group == "whisper-large-v3"
    assert route.api_base == "https://whisper.eu-west.ovh.example/v1"
    assert route.attempted_retries == 1
    assert route.attempted_fallbacks == 0  # sent as 0: 0, not None
    assert route.duration_ms == 812.5
    assert isinstance(route.cost, float)
    assert route.cost == pytest.approx(0.0006)
    assert route.provider_headers == {"x-request-id": "ovh-123", "server": "uvicorn"}
    assert route.provider == "whisper.eu-west.ovh.example"


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(api_key="sk-test", base_url=BASE_URL, max_retries=0) as client:
        yield client


@pytest.fixture
async def aclient() -> AsyncIterator[AsyncClient]:
    async with AsyncClient(api_key="sk-test", base_url=BASE_URL, max_retries=0) as client:
        yield client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_sleeps(monkeypatch)


@pytest.fixture
def asleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_sleeps(monkeypatch)


# -- the headers, read in one place ----------------------------------------------------------------
def test_every_field_is_read_case_insensitively() -> None:
    assert_route(route_from_headers(LITELLM_HEADERS))
    upper = {k.upper(): v for k, v in LITELLM_HEADERS.items()}
    assert route_from_headers(upper).cost == pytest.approx(0.0006)


def test_nothing_sent_is_none_never_zero() -> None:
    route = route_from_headers({"content-type": "application/json"})
    assert route == Route()
    assert route.is_empty
    assert all(value is None for value in route.model_dump().values())


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", "inf", "", "None", "1e400"])
def test_a_bad_value_reads_as_none(bad: str) -> None:
    route = route_from_headers(
        {
            "x-litellm-response-cost": bad,
            "x-litellm-attempted-retries": bad,
            "x-litellm-response-duration-ms": bad,
        }
    )
    assert (route.cost, route.attempted_retries, route.duration_ms) == (None, None, None)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(LITELLM_HEADERS)), st.text(max_size=30)))
def test_any_header_values_give_a_route_never_an_error(headers: dict[str, str]) -> None:
    route = route_from_headers(headers)
    for number in (route.cost, route.duration_ms):
        assert number is None or (math.isfinite(number) and number >= 0)


def test_total_cost_is_none_when_any_part_is_unknown() -> None:
    known, unknown = Route(cost=0.25), Route(cost=None)
    assert total_cost([known, known]) == 0.5
    assert total_cost([known, unknown]) is None
    assert total_cost([]) is None


# -- the router's named wait -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Try again in 2 seconds.", 2.0),
        ("try again in 1.5 seconds", 1.5),
        ("TRY AGAIN IN 7 SECONDS", 7.0),
        ("Please retry after 3 s", 3.0),
        ("retry after 0.25s", 0.25),
        ("try again later", None),
        ("try again in a few seconds", None),
    ],
)
def test_a_wait_named_in_the_message(text: str, expected: float | None) -> None:
    assert parse_router_wait(429, json.dumps({"error": {"message": text}}).encode()) == expected
    assert parse_router_wait(503, text.encode()) == expected
    assert parse_router_wait(500, text.encode()) is None  # only 429 and 503 name waits


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10_000) | st.floats(0, 10_000, allow_nan=False).map(lambda f: round(f, 3)),
    st.sampled_from(["Try again in {} seconds", "retry after {} s", "RETRY AFTER {}s"]),
    st.text(max_size=40),
)
def test_the_named_wait_is_the_number_said(number: float, shape: str, noise: str) -> None:
    said = f"{number}"
    text = f"{noise} {shape.format(said)} ..."
    assert parse_router_wait(429, text.encode()) == pytest.approx(float(said))


def _call(policy: RetryPolicy) -> Call:
    return Call(
        url=URL,
        params=build_params(model=MODEL),
        headers={},
        timeout=httpx.Timeout(60),
        policy=policy,
        started=time.monotonic(),
    )


def _cooling(status: int = 429, seconds: str = "2") -> Exchange:
    answer = httpx.Response(status, request=httpx.Request("POST", URL))
    message = json.dumps(COOLING).replace("2 seconds", f"{seconds} seconds")
    return Exchange(answer, message.encode())


@pytest.mark.parametrize("status", [429, 503])
def test_the_flow_asks_for_the_named_wait(status: int) -> None:
    call = _call(RetryPolicy(jitter=0.0))
    assert settle(call, 1, _cooling(status)) == 2.0


def test_the_flow_yields_the_named_wait_before_the_next_send(hello_wav: Path) -> None:
    call = _call(RetryPolicy(jitter=0.0, max_retries=1))
    flow = call_flow(call, prepare_file(hello_wav))
    assert next(flow) == Send(1)
    assert flow.send(_cooling()) == Wait(2.0)
    assert next(flow) == Send(2)
    ok = httpx.Response(200, headers=LITELLM_HEADERS, request=httpx.Request("POST", URL))
    with pytest.raises(StopIteration) as done:
        flow.send(Exchange(ok, json.dumps(body()).encode()))
    assert_route(done.value.value.parsed.route)


def test_a_ray_worker_reads_the_named_wait() -> None:
    pytest.importorskip("pyarrow")
    from internals import named_wait as _named_wait

    error = RateLimitError("busy", status_code=429, request_id=None, body=COOLING)
    assert _named_wait(429, error) == 2.0
    assert _named_wait(429, RateLimitError("x", status_code=429, request_id=None, body="x")) is None


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([429, 503]),
    st.integers(0, 200) | st.floats(0, 200, allow_nan=False).map(lambda f: round(f, 2)),
)
def test_the_flow_waits_what_is_named_up_to_the_cap(status: int, seconds: float) -> None:
    call = _call(RetryPolicy(jitter=0.0, max_retry_after=60.0))
    if seconds <= 60:
        assert settle(call, 1, _cooling(status, f"{seconds}")) == pytest.approx(float(seconds))
        return
    with pytest.raises(APIStatusError) as caught:  # over the cap: raised, not waited
        settle(call, 1, _cooling(status, f"{seconds}"))
    assert caught.value.status_code == status
    if isinstance(caught.value, RateLimitError):
        assert caught.value.retry_after == pytest.approx(float(seconds))


def test_a_named_wait_over_the_cap_is_raised_with_it() -> None:
    call = _call(RetryPolicy(jitter=0.0, max_retry_after=60.0))
    with pytest.raises(RateLimitError) as caught:
        settle(call, 1, _cooling(seconds="90"))
    assert caught.value.retry_after == 90.0


def test_a_named_wait_past_the_deadline_is_not_made() -> None:
    call = _call(RetryPolicy(jitter=0.0, deadline=1.0))
    with pytest.raises(RateLimitError):
        settle(call, 1, _cooling())


def test_a_named_wait_holds_the_batch() -> None:
    call = _call(RetryPolicy(jitter=0.0))
    clock = [100.0]
    call.gate = RateGate(clock=lambda: clock[0])
    settle(call, 1, _cooling(status=503))
    assert call.gate.wait_time() == 2.0


def test_a_cooling_router_is_waited_for(
    httpx_mock: HTTPXMock, hello_wav: Path, sleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=429, json=COOLING)
    httpx_mock.add_response(json=body(), headers=LITELLM_HEADERS)
    with Client(api_key="sk-test", base_url=BASE_URL, max_retries=2) as client:
        result = client.transcribe(hello_wav, model=MODEL, language="de")
    assert sleeps == [2.0]
    assert_route(result.route)


async def test_a_cooling_router_is_waited_for_async(
    httpx_mock: HTTPXMock, hello_wav: Path, asleeps: list[float]
) -> None:
    httpx_mock.add_response(status_code=429, json=COOLING)
    httpx_mock.add_response(json=body(), headers=LITELLM_HEADERS)
    async with AsyncClient(api_key="sk-test", base_url=BASE_URL, max_retries=2) as client:
        result = await client.transcribe(hello_wav, model=MODEL, language="de")
    assert 2.0 in asleeps
    assert_route(result.route)


# -- the route on every path -------------------------------------------------------------------
def test_sync_every_path_carries_the_route(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=body(), headers=LITELLM_HEADERS, is_reusable=True)
    result = client.transcribe(hello_wav, model=MODEL)
    assert_route(result.route)
    assert result.provider == "whisper.eu-west.ovh.example"  # the body named none
    raw = client.with_raw_response.transcribe(hello_wav, model=MODEL, response_format="text")
    assert isinstance(raw.parsed, str)
    assert_route(raw.route)
    items = client.transcribe_many([hello_wav, hello_wav], model=MODEL)
    for item in items:
        assert item.route is not None
        assert_route(item.route)
    assert total_cost(items) == pytest.approx(0.0012)
    assert total_cost([result, *items]) == pytest.approx(0.0018)
    assert total_cost([result, Transcription(text="by hand")]) is None


async def test_async_every_path_carries_the_route(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=body(), headers=LITELLM_HEADERS, is_reusable=True)
    result = await aclient.transcribe(hello_wav, model=MODEL)
    assert_route(result.route)
    raw = await aclient.with_raw_response.transcribe(hello_wav, model=MODEL, response_format="srt")
    assert_route(raw.route)
    items = await aclient.transcribe_many([hello_wav, hello_wav], model=MODEL)
    assert total_cost(items) == pytest.approx(0.0012)


def test_a_stream_carries_the_route(client: Client, httpx_mock: HTTPXMock, hello_wav: Path) -> None:
    events = b'data: {"type": "transcript.text.done", "text": "Hallo"}\n\n'
    headers = {**LITELLM_HEADERS, "content-type": "text/event-stream"}
    httpx_mock.add_response(content=events, headers=headers)
    with client.transcribe(hello_wav, model="gpt-4o-transcribe", stream=True) as stream:
        assert_route(stream.route)
        assert [e.type for e in stream] == ["transcript.text.done"]


async def test_an_async_stream_carries_the_route(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    events = b'data: {"type": "transcript.text.done", "text": "Hallo"}\n\n'
    headers = {**LITELLM_HEADERS, "content-type": "text/event-stream"}
    httpx_mock.add_response(content=events, headers=headers)
    stream = await aclient.transcribe(hello_wav, model="gpt-4o-transcribe", stream=True)
    async with stream:
        assert_route(stream.route)


def test_an_error_carries_the_route_of_the_failed_answer(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(status_code=429, json=COOLING, headers=LITELLM_HEADERS)
    with pytest.raises(RateLimitError) as caught:
        client.transcribe(hello_wav, model=MODEL)
    assert_route(caught.value.route)
    assert caught.value.retry_after == 2.0  # the named wait, when no header names one
    httpx_mock.add_response(status_code=429, json=COOLING, headers=LITELLM_HEADERS)
    [item] = client.transcribe_many([hello_wav], model=MODEL)
    assert item.route is not None
    assert_route(item.route)


def test_transcribe_long_adds_the_pieces_up(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    answer = {**body(), "duration": 1.0, "segments": [{"start": 0.0, "end": 1.0, "text": "x"}]}
    httpx_mock.add_response(json=answer, headers=LITELLM_HEADERS, is_reusable=True)
    result = client.transcribe_long(
        hello_wav, model=MODEL, response_format="verbose_json", max_chunk_seconds=1
    )
    pieces = len(httpx_mock.get_requests())
    assert pieces >= 2
    assert result.route.cost == pytest.approx(0.0006 * pieces)
    assert result.route.attempted_retries == pieces
    assert total_cost([result]) == pytest.approx(0.0006 * pieces)
    assert result.model_extra is not None
    assert result.model_extra["chunks"][0]["route"]["cost"] == pytest.approx(0.0006)
    assert result.retried_pieces == []


# -- quality flags -------------------------------------------------------------------------------
SHORT = verbose(segments=[{"id": 0, "start": 0.0, "end": 1.2, "text": "Hallo"}])
TRANSLATED = verbose(text="Hello everyone", language="english")


def test_sync_an_incomplete_transcript_warns(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=SHORT, is_reusable=True)
    with pytest.warns(IncompleteTranscriptWarning) as caught:
        client.transcribe(hello_wav, model=MODEL, response_format="verbose_json")
    warning = caught[0].message
    assert isinstance(warning, IncompleteTranscriptWarning)
    assert (warning.duration, warning.covered, warning.duration_source) == (10.0, 1.2, "server")
    with pytest.warns(IncompleteTranscriptWarning):
        raw = client.with_raw_response.transcribe(
            hello_wav, model=MODEL, response_format="verbose_json"
        )
    assert [type(w) for w in raw.warnings] == [IncompleteTranscriptWarning]
    with pytest.warns(IncompleteTranscriptWarning):
        [item] = client.transcribe_many([hello_wav], model=MODEL, response_format="verbose_json")
    assert [type(w) for w in item.warnings] == [IncompleteTranscriptWarning]


async def test_async_an_incomplete_transcript_warns(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=SHORT, is_reusable=True)
    with pytest.warns(IncompleteTranscriptWarning):
        await aclient.transcribe(hello_wav, model=MODEL, response_format="verbose_json")
    with pytest.warns(IncompleteTranscriptWarning):
        await aclient.transcribe_many([hello_wav], model=MODEL, response_format="verbose_json")


def test_a_complete_transcript_does_not_warn(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=verbose())  # filterwarnings = error: a warning would fail
    client.transcribe(hello_wav, model=MODEL, response_format="verbose_json", language="de")


def test_the_warning_can_be_made_an_error(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    import warnings

    httpx_mock.add_response(json=SHORT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteTranscriptWarning)
        with pytest.raises(IncompleteTranscriptWarning):
            client.transcribe(hello_wav, model=MODEL, response_format="verbose_json")


def test_sync_a_language_mismatch_warns(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=TRANSLATED, is_reusable=True)
    with pytest.warns(LanguageMismatchWarning) as caught:
        result = client.transcribe(hello_wav, model=MODEL, language="de")
    assert result.text == "Hello everyone"
    warning = caught[0].message
    assert isinstance(warning, LanguageMismatchWarning)
    assert (warning.asked, warning.answered, warning.answered_code) == ("de", "english", "en")
    with pytest.warns(LanguageMismatchWarning):
        client.transcribe_many([hello_wav], model=MODEL, language="de")


async def test_async_a_language_mismatch_warns(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=TRANSLATED, is_reusable=True)
    with pytest.warns(LanguageMismatchWarning):
        await aclient.transcribe(hello_wav, model=MODEL, language="de")
    with pytest.warns(LanguageMismatchWarning):
        await aclient.with_raw_response.transcribe(hello_wav, model=MODEL, language="de")


def test_a_named_language_matching_the_code_does_not_warn(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=body(language="german"))
    client.transcribe(hello_wav, model=MODEL, language="de")


def _long_answers(httpx_mock: HTTPXMock) -> None:
    piece = {**body(), "duration": 1.0, "segments": [{"start": 0.0, "end": 1.0, "text": "x"}]}
    httpx_mock.add_response(json=SHORT)  # the first piece's first answer stops short
    httpx_mock.add_response(json=piece, is_reusable=True)


def test_transcribe_long_sends_an_incomplete_piece_again_once(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    _long_answers(httpx_mock)
    result = client.transcribe_long(
        hello_wav, model=MODEL, response_format="json", max_chunk_seconds=1, max_concurrency=1
    )
    assert isinstance(result, Transcription)
    assert result.retried_pieces == [0]
    first, again = httpx_mock.get_requests()[:2]
    assert first.url == again.url


async def test_async_transcribe_long_sends_an_incomplete_piece_again_once(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    _long_answers(httpx_mock)
    result = await aclient.transcribe_long(
        hello_wav,
        model=MODEL,
        response_format="verbose_json",
        max_chunk_seconds=1,
        max_concurrency=1,
    )
    assert isinstance(result, VerboseTranscription)
    assert result.retried_pieces == [0]
    assert result.model_extra is not None
    assert len(httpx_mock.get_requests()) == len(result.model_extra["chunks"]) + 1


def test_transcribe_long_warns_when_the_second_answer_is_short_too(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=SHORT, is_reusable=True)
    with pytest.warns(IncompleteTranscriptWarning):
        result = client.transcribe_long(
            hello_wav, model=MODEL, max_chunk_seconds=1, max_concurrency=1
        )
    assert result.retried_pieces is not None
    assert 0 in result.retried_pieces


# -- a real socket ----------------------------------------------------------------------------
@pytest.mark.network
def test_the_route_over_a_real_socket(hello_wav: Path, sleeps: list[float]) -> None:
    with ScriptedServer() as server:
        server.queue(json_reply(COOLING, status=429))
        server.queue(json_reply(body(), headers=LITELLM_HEADERS))
        with Client(api_key="sk-test", base_url=server.base_url, max_retries=1) as client:
            result = client.transcribe(hello_wav, model=MODEL, language="de")
    assert sleeps == [2.0]
    assert_route(result.route)
    assert len(server.requests) == 2


def test_the_command_writes_the_route_and_cost(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    from internals import render, stdout_text

    httpx_mock.add_response(json=body(), headers=LITELLM_HEADERS)
    result = client.transcribe(hello_wav, model=MODEL)
    written = json.loads(render(result))
    assert written["cost"] == pytest.approx(0.0006)
    assert written["route"]["deployment_id"] == "9b2c-deployment"
    line = json.loads(
        stdout_text([(hello_wav, result), (hello_wav, result)], "json", several=True).splitlines()[
            0
        ]
    )
    assert line["input"] == str(hello_wav)
    assert line["route"]["attempted_retries"] == 1
    assert "route" not in json.loads(render(Transcription(text="plain")))


async def test_async_transcribe_long_adds_the_pieces_up(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    answer = {**body(), "duration": 1.0, "segments": [{"start": 0.0, "end": 1.0, "text": "x"}]}
    httpx_mock.add_response(json=answer, headers=LITELLM_HEADERS, is_reusable=True)
    result = await aclient.transcribe_long(
        hello_wav, model=MODEL, response_format="text", max_chunk_seconds=1
    )
    assert isinstance(result, str)  # a str has no route: with_raw_response or json for it
    result_json = await aclient.transcribe_long(hello_wav, model=MODEL, max_chunk_seconds=1)
    pieces = len(httpx_mock.get_requests()) // 2
    assert total_cost([result_json]) == pytest.approx(0.0006 * pieces)


def test_a_long_stream_adds_the_pieces_up(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    events = b'data: {"type": "transcript.text.done", "text": "Hallo"}\n\n'
    headers = {**LITELLM_HEADERS, "content-type": "text/event-stream"}
    httpx_mock.add_response(content=events, headers=headers, is_reusable=True)
    with client.transcribe_long(
        hello_wav, model="gpt-4o-transcribe", stream=True, max_chunk_seconds=1
    ) as stream:
        list(stream)
        pieces = len(httpx_mock.get_requests())
        assert pieces >= 2
        assert stream.route.cost == pytest.approx(0.0006 * pieces)


def test_ray_rows_carry_the_route_and_cost(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    pytest.importorskip("pyarrow")
    from internals import error_row, result_row

    from transcribe_sdk.ray import COLUMNS

    assert ("route", "string") in COLUMNS
    assert ("cost", "float64") in COLUMNS
    httpx_mock.add_response(json=body(), headers=LITELLM_HEADERS)
    raw = client.with_raw_response.transcribe(hello_wav, model=MODEL, response_format="text")
    row = result_row("a.wav", "k", raw.parsed, False, raw.route)
    assert row["cost"] == pytest.approx(0.0006)
    assert json.loads(row["route"])["model_group"] == "whisper-large-v3"
    httpx_mock.add_response(status_code=429, json=COOLING, headers=LITELLM_HEADERS)
    with pytest.raises(RateLimitError) as caught:
        client.transcribe(hello_wav, model=MODEL)
    assert error_row("a.wav", "k", caught.value)["cost"] == pytest.approx(0.0006)
    assert result_row("a.wav", "k", Transcription(text="x"), False)["cost"] is None


def test_the_files_own_length_is_used_when_the_server_sends_none(
    client: Client, httpx_mock: HTTPXMock, fixtures_dir: Path
) -> None:
    segments = [{"id": 0, "start": 0.0, "end": 1.2, "text": "Hallo"}]
    httpx_mock.add_response(json=body(segments=segments), is_reusable=True)
    audio = (fixtures_dir / "long_speech.wav").read_bytes()  # in memory: its length is free
    with pytest.warns(IncompleteTranscriptWarning) as caught:
        client.transcribe(audio, model=MODEL, response_format="json")
    warning = caught[0].message
    assert isinstance(warning, IncompleteTranscriptWarning)
    assert warning.duration_source == "file"
    assert 60 < warning.duration < 66  # the WAV header's 63 s
    # Two words in a minute: too few, even without segments (the words-per-minute check).
    httpx_mock.add_response(json={"text": "Hallo zusammen"})
    with pytest.warns(IncompleteTranscriptWarning) as caught:
        client.transcribe(audio, model=MODEL)
    warning = caught[0].message
    assert isinstance(warning, IncompleteTranscriptWarning)
    assert warning.covered is None
    assert warning.words_per_minute is not None
    assert warning.words_per_minute < 3
    # A file on disk too large to be held in memory is not opened again for its length.
    httpx_mock.add_response(json={"text": "Hallo zusammen"})
    client.transcribe(fixtures_dir / "long_speech.wav", model=MODEL)  # no warning: unknown


def test_transcribe_long_sends_a_whole_file_again_once(
    client: Client, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=SHORT)
    httpx_mock.add_response(json=verbose())
    result = client.transcribe_long(hello_wav, model=MODEL, response_format="verbose_json")
    assert result.retried_pieces == [0]
    assert len(httpx_mock.get_requests()) == 2
    httpx_mock.add_response(json=SHORT, is_reusable=True)
    with pytest.warns(IncompleteTranscriptWarning):
        client.transcribe_long(hello_wav, model=MODEL)
    assert len(httpx_mock.get_requests()) == 4  # once more each, never twice


async def test_async_transcribe_long_sends_a_whole_file_again_once(
    aclient: AsyncClient, httpx_mock: HTTPXMock, hello_wav: Path
) -> None:
    httpx_mock.add_response(json=SHORT)
    httpx_mock.add_response(json=verbose())
    result = await aclient.transcribe_long(hello_wav, model=MODEL)
    assert result.retried_pieces == [0]
    assert len(httpx_mock.get_requests()) == 2
