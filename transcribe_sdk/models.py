"""Response models: what ``transcribe`` returns for ``json`` and ``verbose_json``.

Servers behind an OpenAI-compatible router differ: some leave fields out, some send numbers as
strings (vLLM's ``"duration": "5.0"``), some add their own (Groq's ``x_groq``, Mistral's
``speaker_id``). So every field is optional, numbers are read loosely, and unknown fields are kept
(``model_extra``) rather than rejected. Only ``text`` can be relied on; it is ``""`` when missing.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PrivateAttr, field_validator

from ._languages import to_language_code
from ._route import Route, total_cost

__all__ = [
    "DiarizedTranscription",
    "DurationUsage",
    "InputTokenDetails",
    "Logprob",
    "Route",
    "Segment",
    "TokenUsage",
    "Transcription",
    "Usage",
    "VerboseTranscription",
    "Word",
    "total_cost",
    "total_usage",
]


def _loose_int(value: Any) -> Any:
    # "created": 1715155200.0 or "1715155200" -> 1715155200
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if number.is_integer():
            return int(number)
    return value


def _loose_str(value: Any) -> Any:
    # vLLM and others send ids as numbers
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


LooseInt = Annotated[int, BeforeValidator(_loose_int)]
LooseId = Annotated[int | str, BeforeValidator(_loose_int)]
"""A segment id: a number (Whisper servers), or a string (``"seg_0"``, diarizing servers)."""
LooseStr = Annotated[str, BeforeValidator(_loose_str)]


class _ServerModel(BaseModel):
    """The base of every answer model: unknown fields from a server are kept, never refused."""

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow",
        populate_by_name=True,
        protected_namespaces=(),
    )


class Word(_ServerModel):
    """One word with its start and end time in seconds (``timestamp_granularities=["word"]``)."""

    word: str = ""
    start: float | None = None
    end: float | None = None


class Segment(_ServerModel):
    """A stretch of the transcript with its timing and, from Whisper servers, its scores.

    ``avg_logprob`` and ``no_speech_prob`` help drop text hallucinated on silence; some servers
    send placeholders for them.
    """

    id: LooseId | None = None
    seek: LooseInt | None = None
    start: float | None = None
    end: float | None = None
    text: str = ""
    tokens: list[LooseInt] | None = None
    temperature: float | None = None
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None
    words: list[Word] | None = None
    speaker: str | None = None
    """Who spoke (``diarized_json``): a known speaker's name, else ``"A"``, ``"B"``, ..."""


class Logprob(_ServerModel):
    """One token's log-probability (``include=["logprobs"]``)."""

    token: str | None = None
    bytes: list[int] | None = None
    logprob: float | None = None


class InputTokenDetails(_ServerModel):
    """How the input tokens of a :class:`TokenUsage` divide between audio and text."""

    audio_tokens: LooseInt | None = None
    text_tokens: LooseInt | None = None


class TokenUsage(_ServerModel):
    """What a request cost, for models billed by tokens (``gpt-4o-transcribe`` and others)."""

    type: Literal["tokens"] = "tokens"
    input_tokens: LooseInt | None = None
    output_tokens: LooseInt | None = None
    total_tokens: LooseInt | None = None
    input_token_details: InputTokenDetails | None = None


class DurationUsage(_ServerModel):
    """What a request cost, for models billed by the second of audio (Whisper)."""

    type: Literal["duration"] = "duration"
    seconds: float | None = None


_TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


def _pick_usage(value: Any) -> Any:
    # OpenAI's union is told apart by "type"; servers that leave it out are told apart by
    # their fields. A usage that is neither (or not an object) is not reported: None.
    if value is None or isinstance(value, (TokenUsage, DurationUsage)):
        return value
    if not isinstance(value, Mapping):
        return None
    kind = value.get("type")
    if kind == "duration" or (kind is None and "seconds" in value):
        return DurationUsage.model_validate({**value, "type": "duration"})
    if kind == "tokens" or (kind is None and any(k in value for k in _TOKEN_FIELDS)):
        return TokenUsage.model_validate({**value, "type": "tokens"})
    return None


Usage = Annotated[TokenUsage | DurationUsage | None, BeforeValidator(_pick_usage)]
"""A request's cost as the server reports it: :class:`TokenUsage` or :class:`DurationUsage`
(OpenAI's union), or ``None`` when the server does not say."""


def _add(a: int | float | None, b: int | float | None) -> Any:
    return None if a is None and b is None else (a or 0) + (b or 0)


def total_usage(items: Iterable[Any]) -> TokenUsage | DurationUsage | None:
    """The sum of the usage of ``items``: results (anything with a ``usage``), batch results
    (their ``result``), or usage values themselves.

    ``None`` when none of them reports usage. Tokens add to tokens and seconds to seconds;
    when some report tokens and others seconds, there is no one sum and the answer is ``None``.
    Items that report nothing are left out (they add nothing, not 0).

    Example::

        results = client.transcribe_many(paths, model="whisper-large-v3")
        print(total_usage(results))
    """
    found: list[TokenUsage | DurationUsage] = []
    for item in items:
        usage = item
        if not isinstance(item, (TokenUsage, DurationUsage)):
            usage = getattr(getattr(item, "result", item), "usage", None)
        if isinstance(usage, (TokenUsage, DurationUsage)):
            found.append(usage)
    if not found:
        return None
    if all(isinstance(u, DurationUsage) for u in found):
        seconds = None
        for u in found:
            seconds = _add(seconds, u.seconds)  # type: ignore[union-attr]
        return DurationUsage(seconds=seconds)
    if all(isinstance(u, TokenUsage) for u in found):
        tokens = [u for u in found if isinstance(u, TokenUsage)]
        totals: dict[str, Any] = dict.fromkeys(_TOKEN_FIELDS)
        audio = text = None
        for u in tokens:
            for name in _TOKEN_FIELDS:
                totals[name] = _add(totals[name], getattr(u, name))
            if u.input_token_details is not None:
                audio = _add(audio, u.input_token_details.audio_tokens)
                text = _add(text, u.input_token_details.text_tokens)
        details = None
        if audio is not None or text is not None:
            details = InputTokenDetails(audio_tokens=audio, text_tokens=text)
        return TokenUsage(**totals, input_token_details=details)
    return None


class Transcription(_ServerModel):
    """The answer to a ``json`` transcription: the text and the router's metadata.

    Example::

        result = client.transcribe("talk.mp3", model="whisper-large-v3")
        print(result.text, "served by", result.provider)
    """

    id: LooseStr | None = None
    object: str | None = None
    created: LooseInt | None = None
    provider: str | None = None
    model: str | None = None
    text: str = ""
    language: str | None = None
    segments: list[Segment] | None = None
    usage: Usage = None
    """What the request cost (tokens or seconds), if the server says."""
    logprobs: list[Logprob] | None = None
    """Each token's log-probability, when asked for with ``include=["logprobs"]``."""
    dropped_segments: int | None = None
    """How many segments ``silence_filter`` dropped as probably silent; ``None`` when the
    call had no ``silence_filter``."""
    retried_pieces: list[int] | None = None
    """``transcribe_long`` only: the pieces (0-based) sent a second time because their first
    answer looked incomplete (see :class:`~transcribe_sdk.IncompleteTranscriptWarning`);
    ``[]`` when none was. A file sent whole is piece 0: ``[0]`` when it was sent again,
    ``None`` when not (as for any other call)."""
    _request_id: str | None = PrivateAttr(default=None)
    _route: Route | None = PrivateAttr(default=None)

    @property
    def request_id(self) -> str | None:
        """The id the server gave the request (``x-request-id`` or similar), for support."""
        return self._request_id

    @property
    def route(self) -> Route:
        """What the router said about the request: the deployment, the cost, its retries
        (:class:`Route`; every field ``None`` when it did not say, or for a result made by
        hand). For a split call, the pieces' routes combined."""
        return self._route if self._route is not None else Route()

    def __eq__(self, other: builtins.object) -> bool:
        # Two transcriptions are equal by what they say, whichever request brought them.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def language_code(self) -> str | None:
        """The detected language as an ISO-639-1 code (``"english"`` becomes ``"en"``)."""
        return to_language_code(self.language)


class VerboseTranscription(Transcription):
    """The answer to a ``verbose_json`` transcription: segments, words and the duration.

    Example::

        result = client.transcribe("talk.mp3", model="whisper-large-v3",
                                   response_format="verbose_json",
                                   timestamp_granularities=["word", "segment"])
        for segment in result.segments or []:
            print(f"{segment.start:7.2f} {segment.text}")
    """

    duration: float | None = None
    words: list[Word] | None = None


def _speaker(value: Any) -> Any:
    # Mistral calls it speaker_id; OpenAI speaker.
    if isinstance(value, Mapping) and "speaker" not in value and "speaker_id" in value:
        return {**value, "speaker": value["speaker_id"]}
    return value


class DiarizedTranscription(Transcription):
    """The answer to a ``diarized_json`` transcription: segments labelled with who spoke.

    Example::

        result = client.transcribe("meeting.wav", model="gpt-4o-transcribe-diarize",
                                   response_format="diarized_json")
        for segment in result.segments or []:
            print(f"{segment.speaker}: {segment.text}")
    """

    duration: float | None = None
    task: str | None = None

    @field_validator("segments", mode="before")
    @classmethod
    def _speakers(cls, value: Any) -> Any:
        return [_speaker(s) for s in value] if isinstance(value, list) else value

    @property
    def speakers(self) -> list[str]:
        """The speakers heard, in order of first appearance."""
        seen: dict[str, None] = {}
        for segment in self.segments or []:
            if segment.speaker is not None:
                seen.setdefault(segment.speaker, None)
        return list(seen)
