"""Response models: what ``transcribe`` returns for ``json`` and ``verbose_json``.

Servers behind an OpenAI-compatible router differ: some leave fields out, some send numbers as
strings (vLLM's ``"duration": "5.0"``), some add their own (Groq's ``x_groq``, Mistral's
``speaker_id``). So every field is optional, numbers are read loosely, and unknown fields are kept
(``model_extra``) rather than rejected. Only ``text`` can be relied on; it is ``""`` when missing.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from ._languages import to_language_code

__all__ = ["Segment", "Transcription", "Usage", "VerboseTranscription", "Word"]


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
LooseStr = Annotated[str, BeforeValidator(_loose_str)]


class _ServerModel(BaseModel):
    model_config = ConfigDict(
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

    id: LooseInt | None = None
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


class Usage(_ServerModel):
    """What the request cost, as the server reports it (tokens or seconds); ``None`` if unsaid."""

    type: str | None = None
    seconds: float | None = None
    input_tokens: LooseInt | None = None
    output_tokens: LooseInt | None = None
    total_tokens: LooseInt | None = None


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
    dropped_segments: int | None = None
    """How many segments ``silence_filter`` dropped as probably silent; ``None`` when the
    call had no ``silence_filter``."""
    _request_id: str | None = PrivateAttr(default=None)

    @property
    def request_id(self) -> str | None:
        """The id the server gave the request (``x-request-id`` or similar), for support."""
        return self._request_id

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
    usage: Usage | None = Field(default=None)
