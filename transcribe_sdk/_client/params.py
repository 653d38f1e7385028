"""Request parameters: checked before anything is sent, then encoded as multipart form fields.

The encoding rules live here and nowhere else:

- a parameter left as ``None`` is not sent, so the server's default applies;
- ``True``/``False`` are sent as ``true``/``false``;
- numbers in their shortest exact decimal form (``0.2``, never ``2e-1``);
- a list is sent as one form field per item, named with :data:`ARRAY_SUFFIX`
  (``allowed_providers[]``), as openai-python sends ``timestamp_granularities[]`` and as
  LiteLLM's form parser reads arrays;
- a mapping is sent as one field per key, named ``field[key]`` (openai-python's convention).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from .._languages import ISO_639_1, to_language_code
from ..errors import InvalidInputError
from ..errors import type_name as _type_name
from .diarize import check_chunking, check_include, check_speakers

ResponseFormat = Literal["json", "verbose_json", "text", "srt", "vtt", "diarized_json"]
TextFormat = Literal["text", "srt", "vtt"]
"""The formats whose result is the body as a ``str``."""
Preference = Literal["speed", "cost", "balanced"]
TimestampGranularity = Literal["word", "segment"]

RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
PREFERENCES: tuple[str, ...] = get_args(Preference)
GRANULARITIES: tuple[str, ...] = get_args(TimestampGranularity)

ARRAY_SUFFIX = "[]"
"""Suffix of the repeated form fields a list is sent as: ``allowed_providers[]``."""

# Fields that have their own keyword; extra_body may not set them a second time.
TYPED_FIELDS = frozenset(
    {
        "model",
        "language",
        "prompt",
        "response_format",
        "temperature",
        "preference",
        "allowed_providers",
        "eu_native",
        "allow_quantization",
        "allow_zero_data_retention",
        "enable_model_fallback",
        "timestamp_granularities",
        "known_speaker_names",
        "known_speaker_references",
        "chunking_strategy",
        "include",
        "stream",
    }
)
_FLAGS = ("eu_native", "allow_quantization", "allow_zero_data_retention", "enable_model_fallback")
_MAX_DEPTH = 4


def encode_scalar(name: str, value: object) -> str:
    """One form value as text: ``true``/``false``, shortest decimal, or the string itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python will print
            raise InvalidInputError(name, "is too large a number to send") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(name, f"must be a finite number, not {value!r}")
        text = repr(float(value) + 0.0)  # float(): numpy floats too; + 0.0 turns -0.0 into 0.0
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInputError(name, f"must be a finite number, not {value!r}")
        return format(value.normalize(), "f")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(name, "contains characters that are not valid text") from None
        return value
    raise InvalidInputError(
        name, f"cannot be sent as a form field: {_type_name(value)} (use str, int, float or bool)"
    )


def encode_field(name: str, value: object, _depth: int = 0) -> list[tuple[str, str]]:
    """Encode one parameter as form fields following the module's rules; ``None`` gives none."""
    if value is None:
        return []
    if _depth > _MAX_DEPTH:
        raise InvalidInputError(name, "is nested too deeply to send as form fields")
    if isinstance(value, Mapping):
        fields: list[tuple[str, str]] = []
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(name, f"has a key that is not a non-empty str: {key!r}")
            fields.extend(encode_field(f"{name}[{key}]", item, _depth + 1))
        return fields
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        out = []
        for item in items:
            if isinstance(item, (Mapping, list, tuple, set, frozenset)):
                raise InvalidInputError(name, "a list item cannot itself be a list or a mapping")
            out.append((name + ARRAY_SUFFIX, encode_scalar(name, item)))
        return out
    return [(name, encode_scalar(name, value))]


def _check_language(language: object) -> str:
    if not isinstance(language, str):
        raise InvalidInputError(
            "language", f"must be a str such as 'en', not {_type_name(language)}"
        )
    if language in ISO_639_1:
        return language
    suggestion = to_language_code(language)
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    raise InvalidInputError(
        "language",
        f"{language!r} is not an ISO-639-1 code (two lowercase letters such as 'en', 'fr', "
        f"'de'){hint}",
    )


def _check_temperature(value: object) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError("temperature", f"must be a number, not {_type_name(value)}")
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidInputError("temperature", f"must be between 0 and 1, not {value!r}")
    return value


def _check_providers(value: object) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidInputError(
            "allowed_providers",
            f"must be a list of provider names such as ['ovh', 'scaleway'], not "
            f"{_type_name(value)}" + (f" {value!r}" if isinstance(value, str) else ""),
        )
    if not value:
        raise InvalidInputError("allowed_providers", "must name at least one provider")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError(
                "allowed_providers", f"each provider must be a non-empty str, got {item!r}"
            )
    return list(value)


def _check_granularities(value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise InvalidInputError(
            "timestamp_granularities", "must be 'word', 'segment' or a non-empty list of them"
        )
    for item in items:
        if item not in GRANULARITIES:
            raise InvalidInputError(
                "timestamp_granularities", f"{item!r} is not one of 'word', 'segment'"
            )
    return list(items)


@dataclass(frozen=True)
class RequestParams:
    """Checked parameters: the form fields to send and the response format to parse."""

    fields: list[tuple[str, str]]
    response_format: str | None


def build_params(
    *,
    model: object,
    language: object = None,
    prompt: object = None,
    response_format: object = None,
    temperature: object = None,
    preference: object = None,
    allowed_providers: object = None,
    eu_native: object = None,
    allow_quantization: object = None,
    allow_zero_data_retention: object = None,
    enable_model_fallback: object = None,
    timestamp_granularities: object = None,
    known_speaker_names: object = None,
    known_speaker_references: object = None,
    chunking_strategy: object = None,
    include: object = None,
    extra_body: object = None,
) -> RequestParams:
    """Check every parameter and encode the form fields, in a stable order.

    Raises :class:`~transcribe_sdk.InvalidInputError` naming the first bad parameter.
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(
            "model", f"must be a non-empty str such as 'whisper-large-v3', not {model!r}"
        )
    values: dict[str, Any] = {"model": model}
    if language is not None:
        values["language"] = _check_language(language)
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InvalidInputError("prompt", f"must be a str, not {_type_name(prompt)}")
        values["prompt"] = prompt
    if timestamp_granularities is not None:
        values["timestamp_granularities"] = _check_granularities(timestamp_granularities)
        if response_format is None:
            response_format = "verbose_json"  # the only format that carries timestamps
        elif response_format != "verbose_json":
            raise InvalidInputError(
                "timestamp_granularities",
                f"needs response_format='verbose_json', not {response_format!r}",
            )
    if response_format is not None:
        if response_format not in RESPONSE_FORMATS:
            raise InvalidInputError(
                "response_format",
                f"{response_format!r} is not one of {', '.join(map(repr, RESPONSE_FORMATS))}",
            )
        values["response_format"] = response_format
    if temperature is not None:
        values["temperature"] = _check_temperature(temperature)
    if preference is not None:
        if preference not in PREFERENCES:
            raise InvalidInputError(
                "preference", f"{preference!r} is not one of {', '.join(map(repr, PREFERENCES))}"
            )
        values["preference"] = preference
    if allowed_providers is not None:
        values["allowed_providers"] = _check_providers(allowed_providers)
    if known_speaker_names is not None or known_speaker_references is not None:
        names, urls = check_speakers(known_speaker_names, known_speaker_references)
        values["known_speaker_names"] = names
        values["known_speaker_references"] = urls
        if chunking_strategy is None:
            chunking_strategy = "auto"  # what diarizing long audio needs; the user did not choose
    if response_format == "diarized_json" and chunking_strategy is None:
        chunking_strategy = "auto"
    if chunking_strategy is not None:
        chunking = check_chunking(chunking_strategy)
        # An object goes as one field of JSON text, as OpenAI's API reads it (and its Go and
        # .NET SDKs send it), not as bracketed fields; "auto" stays a plain string.
        values["chunking_strategy"] = (
            chunking if isinstance(chunking, str) else json.dumps(chunking, separators=(",", ":"))
        )
    if include is not None:
        values["include"] = check_include(include)
    flags = {
        "eu_native": eu_native,
        "allow_quantization": allow_quantization,
        "allow_zero_data_retention": allow_zero_data_retention,
        "enable_model_fallback": enable_model_fallback,
    }
    for name in _FLAGS:
        flag = flags[name]
        if flag is not None:
            if not isinstance(flag, bool):
                raise InvalidInputError(name, f"must be True or False, not {flag!r}")
            values[name] = flag
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise InvalidInputError(
                "extra_body",
                f"must be a mapping of field names to values, not {_type_name(extra_body)}",
            )
        for key, value in extra_body.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(
                    "extra_body", f"has a key that is not a non-empty str: {key!r}"
                )
            if key == "file":
                raise InvalidInputError("extra_body", "cannot set 'file'; pass it as the file")
            if key.removesuffix(ARRAY_SUFFIX) in TYPED_FIELDS:
                # One way to set each spec field, so it is always checked the same way.
                raise InvalidInputError(
                    "extra_body", f"sets {key!r}, which has its own keyword argument; use {key}=..."
                )
            try:
                encode_field(key, value)
            except InvalidInputError as exc:
                raise InvalidInputError("extra_body", f"field {key!r}: {exc.message}") from None
            values[key] = value
    fields: list[tuple[str, str]] = []
    for name, value in values.items():
        fields.extend(encode_field(name, value))
    effective = values.get("response_format")
    return RequestParams(fields, effective if isinstance(effective, str) else None)
