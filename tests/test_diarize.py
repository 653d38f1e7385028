"""Diarization: known speakers sent as data URLs of 2-10 s, chunking_strategy, include, and
``diarized_json`` answers read as speaker-labelled segments."""

from __future__ import annotations

import base64
import io
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from internals import build_params, parse_success

from transcribe_sdk.errors import InvalidInputError
from transcribe_sdk.models import DiarizedTranscription, DurationUsage

FIXTURES = Path(__file__).parent / "fixtures"


def wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def fields(**kwargs: Any) -> list[tuple[str, str]]:
    return build_params(model="gpt-4o-transcribe-diarize", **kwargs).fields


def test_known_speakers_are_sent_as_data_urls(tmp_path: Path) -> None:
    agent = tmp_path / "agent.wav"
    agent.write_bytes(wav(3))
    sent = fields(
        known_speaker_names=["agent", "customer"],
        known_speaker_references=[agent, wav(4)],
        response_format="diarized_json",
    )
    names = [v for k, v in sent if k == "known_speaker_names[]"]
    refs = [v for k, v in sent if k == "known_speaker_references[]"]
    assert names == ["agent", "customer"]
    assert all(r.startswith("data:audio/") and ";base64," in r for r in refs)
    assert base64.b64decode(refs[0].split(",", 1)[1]) == agent.read_bytes()
    assert ("chunking_strategy", "auto") in sent  # chosen when diarizing, unless the user did


def test_a_data_url_reference_is_checked_and_passed_on() -> None:
    url = "data:audio/wav;base64," + base64.b64encode(wav(2.5)).decode()
    sent = fields(known_speaker_names=["a"], known_speaker_references=[url])
    assert ("known_speaker_references[]", url) in sent


def test_a_compressed_reference_is_measured_by_pyav() -> None:
    pytest.importorskip("av")
    sent = fields(known_speaker_names=["a"], known_speaker_references=[FIXTURES / "hello.mp3"])
    assert any(v.startswith("data:audio/mpeg;base64,") for k, v in sent)


@pytest.mark.parametrize(
    ("names", "refs", "message"),
    [
        (["a"], [wav(1)], "1.0 s long; a speaker sample must be 2 to 10 s"),
        (["a"], [wav(11)], "11.0 s long"),
        (["a", "b"], [wav(3)], "one sample per name: 2 names, 1 samples"),
        (["a", "b", "c", "d", "e"], [wav(3)] * 5, "1 to 4 speakers"),
        (["a", "a"], [wav(3)] * 2, "names must differ"),
        (["a"], [b"not audio at all" * 10], "not audio"),
        (["a"], ["data:audio/wav,plain"], "must be base64"),
        (["a"], ["data:audio/wav;base64,@@@"], "not valid"),
        (["a"], [42], "must be a path, bytes or a data: URL"),
        (["a"], ["/no/such/file.wav"], "cannot be read"),
        ("a", [wav(3)], "must be a list of names"),
        ([""], [wav(3)], "each name must be a str"),
    ],
)
def test_bad_speaker_references_are_refused_before_sending(
    names: Any, refs: Any, message: str
) -> None:
    with pytest.raises(InvalidInputError, match="known_speaker") as caught:
        fields(known_speaker_names=names, known_speaker_references=refs)
    assert message in str(caught.value)


def test_names_need_references_and_back() -> None:
    with pytest.raises(InvalidInputError, match="needs known_speaker_references"):
        fields(known_speaker_names=["a"])
    with pytest.raises(InvalidInputError, match="needs known_speaker_names"):
        fields(known_speaker_references=[wav(3)])


def test_chunking_strategy() -> None:
    assert ("chunking_strategy", "auto") in fields(chunking_strategy="auto")
    sent = fields(
        chunking_strategy={"type": "server_vad", "threshold": 0.4, "silence_duration_ms": 500.0}
    )
    # One field of JSON text, as OpenAI's API reads it; whole milliseconds as integers.
    (strategy,) = [v for k, v in sent if k.startswith("chunking_strategy")]
    assert ("chunking_strategy", strategy) in sent
    assert json.loads(strategy) == {
        "type": "server_vad",
        "threshold": 0.4,
        "silence_duration_ms": 500,
    }
    assert '"silence_duration_ms":500' in strategy
    assert not any(k.startswith("chunking") for k, _ in fields())  # unset: not sent
    for bad, message in [
        ("manual", "must be 'auto'"),
        ({"type": "client_vad"}, "type 'server_vad'"),
        ({"type": "server_vad", "threshold": 2}, "between 0 and 1"),
        ({"type": "server_vad", "silence": 1}, "unknown key"),
        ({"type": "server_vad", "prefix_padding_ms": 1.5}, "whole milliseconds"),
    ]:
        with pytest.raises(InvalidInputError, match="chunking_strategy") as caught:
            fields(chunking_strategy=bad)
        assert message in str(caught.value)


def test_include_logprobs() -> None:
    assert ("include[]", "logprobs") in fields(include=["logprobs"])
    with pytest.raises(InvalidInputError, match="include"):
        fields(include=["everything"])


def test_diarized_json_is_read_with_speakers() -> None:
    body = (
        b'{"task": "transcribe", "duration": 6.5, "text": "Hi. Hello.",'
        b' "segments": ['
        b'{"type": "transcript.text.segment", "id": "seg_0", "start": 0, "end": 2, "text": "Hi.",'
        b' "speaker": "agent"},'
        b'{"id": "seg_1", "start": 2.1, "end": 6.5, "text": "Hello.", "speaker_id": "B"}],'
        b' "usage": {"type": "duration", "seconds": 7}}'
    )
    result = parse_success(
        status=200,
        headers={"content-type": "application/json"},
        content=body,
        response_format="diarized_json",
    )
    assert isinstance(result, DiarizedTranscription)
    assert [s.speaker for s in result.segments or []] == ["agent", "B"]
    assert result.speakers == ["agent", "B"]
    assert result.usage == DurationUsage(seconds=7)
    assert result.duration == 6.5


def test_logprobs_are_typed_on_whole_answers() -> None:
    body = b'{"text": "Hi", "logprobs": [{"token": "Hi", "logprob": -0.01, "bytes": [72, 105]}]}'
    result = parse_success(
        status=200,
        headers={"content-type": "application/json"},
        content=body,
        response_format="json",
    )
    assert result.logprobs is not None
    assert (result.logprobs[0].token, result.logprobs[0].bytes) == ("Hi", [72, 105])


def test_long_audio_keeps_its_speakers_when_split() -> None:
    pytest.importorskip("av")
    from transcribe_sdk.testing import FakeServer

    fake = FakeServer()
    for speaker in ("A", "B", "A"):
        fake.add_response(
            json_body={
                "text": f"{speaker} speaks.",
                "segments": [
                    # ends near the piece's end: a piece covered (not flagged incomplete)
                    {"id": "seg_0", "start": 1.0, "end": 22.0, "text": "x", "speaker": speaker}
                ],
            }
        )
    with fake.client() as client:
        result = client.transcribe_long(
            FIXTURES / "long_speech.wav",
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            max_chunk_seconds=25,
        )
    assert [r.field("response_format") for r in fake.requests] == ["diarized_json"] * 3
    assert all(r.field("chunking_strategy") == "auto" for r in fake.requests)
    assert isinstance(result, DiarizedTranscription)
    assert [s.speaker for s in result.segments or []] == ["A", "B", "A"]
    starts = [s.start or 0 for s in result.segments or []]
    assert starts[0] == 1.0
    assert starts[1] > 20  # moved to where its piece starts in the whole file
    assert result.text == "A speaks. B speaks. A speaks."
