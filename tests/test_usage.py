"""``usage``: OpenAI's union (tokens or seconds) on every result, summed across results."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from transcribe_sdk import BatchResult, Client
from transcribe_sdk.models import (
    DurationUsage,
    InputTokenDetails,
    TokenUsage,
    Transcription,
    VerboseTranscription,
    total_usage,
)

TOKENS = {
    "type": "tokens",
    "input_tokens": 14,
    "output_tokens": 45,
    "total_tokens": 59,
    "input_token_details": {"audio_tokens": 14, "text_tokens": 0},
}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            TOKENS,
            TokenUsage(
                **{
                    **TOKENS,
                    "input_token_details": InputTokenDetails(audio_tokens=14, text_tokens=0),
                }
            ),
        ),
        ({"type": "duration", "seconds": 9}, DurationUsage(seconds=9)),
        ({"seconds": "4.5"}, DurationUsage(seconds=4.5)),  # no type: told by its fields
        ({"prompt_tokens": 1, "total_tokens": "3"}, TokenUsage(total_tokens=3, prompt_tokens=1)),
        ({"type": "credits", "amount": 2}, None),  # not OpenAI's: not reported
        ("lots", None),
        (None, None),
    ],
)
def test_usage_is_read_as_openais_union(usage: Any, expected: Any) -> None:
    for model in (Transcription, VerboseTranscription):
        result = model.model_validate({"text": "hi", "usage": usage})
        assert result.usage == expected


def test_no_usage_is_none_never_zero() -> None:
    assert Transcription.model_validate({"text": "hi"}).usage is None
    assert total_usage([Transcription(text="a"), Transcription(text="b")]) is None


def test_durations_and_tokens_add_up() -> None:
    seconds = [
        Transcription.model_validate({"usage": {"type": "duration", "seconds": s}})
        for s in (1.5, 2)
    ]
    assert total_usage(seconds) == DurationUsage(seconds=3.5)
    tokens = [Transcription.model_validate({"usage": TOKENS}) for _ in range(3)]
    summed = total_usage([*tokens, Transcription(text="unreported")])
    assert isinstance(summed, TokenUsage)
    assert (summed.input_tokens, summed.output_tokens, summed.total_tokens) == (42, 135, 177)
    assert summed.input_token_details == InputTokenDetails(audio_tokens=42, text_tokens=0)


def test_mixed_kinds_have_no_one_sum() -> None:
    mixed = [DurationUsage(seconds=3), TokenUsage(total_tokens=4)]
    assert total_usage(mixed) is None


def test_a_batch_adds_up_its_results(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        json={"text": "hi", "usage": {"type": "duration", "seconds": 2}}, is_reusable=True
    )
    with Client(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as client:
        results = client.transcribe_many([("a.wav", b"RIFF"), ("b.wav", b"RIFF")], model="m")
    assert all(isinstance(r, BatchResult) and r.ok for r in results)
    assert total_usage(results) == DurationUsage(seconds=4)
    assert results[0].result.usage == DurationUsage(seconds=2)  # on json results too
