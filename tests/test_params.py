"""Request parameters (``_client/params.py``): checks, and their encoding as multipart form fields.

These are the pure rules; ``test_client.py`` checks the same rules on the wire.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from internals import build_params, encode_field, encode_scalar

from transcribe_sdk import ARRAY_SUFFIX, InvalidInputError, TranscribeError


def fields_of(**kwargs: Any) -> list[tuple[str, str]]:
    return build_params(**{"model": "whisper-large-v3", **kwargs}).fields


# -- encoding ----------------------------------------------------------------------------------


def test_model_alone_is_the_only_field() -> None:
    params = build_params(model="whisper-large-v3")
    assert params.fields == [("model", "whisper-large-v3")]
    assert params.response_format is None


def test_every_parameter_is_encoded_in_a_stable_order() -> None:
    params = build_params(
        model="whisper-large-v3",
        language="en",
        prompt="Hello, Dr. Müller.",
        response_format="verbose_json",
        temperature=0.2,
        preference="speed",
        allowed_providers=["ovh", "scaleway"],
        eu_native=True,
        allow_quantization=False,
        allow_zero_data_retention=True,
        enable_model_fallback=False,
        timestamp_granularities=["word", "segment"],
        extra_body={"vad_filter": True},
    )
    assert params.fields == [
        ("model", "whisper-large-v3"),
        ("language", "en"),
        ("prompt", "Hello, Dr. Müller."),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("response_format", "verbose_json"),
        ("temperature", "0.2"),
        ("preference", "speed"),
        ("allowed_providers[]", "ovh"),
        ("allowed_providers[]", "scaleway"),
        ("eu_native", "true"),
        ("allow_quantization", "false"),
        ("allow_zero_data_retention", "true"),
        ("enable_model_fallback", "false"),
        ("vad_filter", "true"),
    ]
    assert params.response_format == "verbose_json"


def test_none_means_not_sent() -> None:
    names = (
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
        "extra_body",
    )
    assert fields_of(**dict.fromkeys(names)) == [("model", "whisper-large-v3")]


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (0, "0"),
        (0.0, "0"),
        (0.2, "0.2"),
        (1, "1"),
        (1.0, "1"),
        (1e-05, "0.00001"),
        (0.5, "0.5"),
        (0.123456789, "0.123456789"),
        (1 / 3, "0.3333333333333333"),
    ],
)
def test_temperature_is_sent_in_its_shortest_exact_decimal_form(value: float, sent: str) -> None:
    assert fields_of(temperature=value) == [("model", "whisper-large-v3"), ("temperature", sent)]


@pytest.mark.parametrize(("flag", "sent"), [(True, "true"), (False, "false")])
@pytest.mark.parametrize(
    "name",
    ["eu_native", "allow_quantization", "allow_zero_data_retention", "enable_model_fallback"],
)
def test_flags_are_sent_as_true_or_false(name: str, flag: bool, sent: str) -> None:
    assert fields_of(**{name: flag}) == [("model", "whisper-large-v3"), (name, sent)]


@pytest.mark.parametrize("providers", [["ovh", "scaleway"], ("ovh", "scaleway")])
def test_allowed_providers_is_one_field_per_item(providers: Any) -> None:
    assert ARRAY_SUFFIX == "[]"
    assert fields_of(allowed_providers=providers) == [
        ("model", "whisper-large-v3"),
        ("allowed_providers[]", "ovh"),
        ("allowed_providers[]", "scaleway"),
    ]


@pytest.mark.parametrize("response_format", ["json", "verbose_json", "text", "srt", "vtt"])
def test_every_response_format_is_sent_and_remembered(response_format: str) -> None:
    params = build_params(model="m", response_format=response_format)
    assert params.fields == [("model", "m"), ("response_format", response_format)]
    assert params.response_format == response_format


@pytest.mark.parametrize(
    ("value", "items"),
    [("word", ["word"]), (["word"], ["word"]), (["segment", "word"], ["segment", "word"])],
)
def test_timestamp_granularities_imply_verbose_json(value: Any, items: list[str]) -> None:
    params = build_params(model="m", timestamp_granularities=value)
    assert params.fields == [
        ("model", "m"),
        *[("timestamp_granularities[]", item) for item in items],
        ("response_format", "verbose_json"),
    ]
    assert params.response_format == "verbose_json"


def test_timestamp_granularities_accept_an_explicit_verbose_json() -> None:
    params = build_params(
        model="m", response_format="verbose_json", timestamp_granularities="segment"
    )
    assert params.fields == [
        ("model", "m"),
        ("timestamp_granularities[]", "segment"),
        ("response_format", "verbose_json"),
    ]


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt"])
def test_timestamp_granularities_refuse_another_format(response_format: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        build_params(model="m", response_format=response_format, timestamp_granularities="word")
    assert info.value.param == "timestamp_granularities"
    assert "verbose_json" in str(info.value)


def test_extra_body_follows_the_same_rules() -> None:
    fields = fields_of(
        extra_body={
            "vad_filter": True,
            "beam_size": 5,
            "best_of": 0.5,
            "hotwords": ["Cortecs", "OVH"],
            "vad_parameters": {"type": "server_vad", "threshold": 0.5, "skipped": None},
            "skipped": None,
        }
    )
    assert fields == [
        ("model", "whisper-large-v3"),
        ("vad_filter", "true"),
        ("beam_size", "5"),
        ("best_of", "0.5"),
        ("hotwords[]", "Cortecs"),
        ("hotwords[]", "OVH"),
        ("vad_parameters[type]", "server_vad"),
        ("vad_parameters[threshold]", "0.5"),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"language": "en", "extra_body": {"language": "fr"}},
        {"prompt": "a", "extra_body": {"prompt": "b"}},
        {"temperature": 0, "extra_body": {"temperature": 1}},
        {"eu_native": True, "extra_body": {"eu_native": False}},
        {"extra_body": {"model": "other"}},
    ],
)
def test_extra_body_cannot_repeat_a_keyword(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as info:
        fields_of(**kwargs)
    assert info.value.param == "extra_body"
    assert "its own keyword argument" in str(info.value)


def test_extra_body_cannot_set_the_file() -> None:
    with pytest.raises(InvalidInputError) as info:
        fields_of(extra_body={"file": b"RIFF"})
    assert info.value.param == "extra_body"
    assert "'file'" in str(info.value)


@pytest.mark.parametrize(
    ("extra_body", "param"),
    [
        (["vad_filter"], "extra_body"),
        ("vad_filter=true", "extra_body"),
        ({"": 1}, "extra_body"),
        ({1: "x"}, "extra_body"),
        ({"nested": [[1, 2]]}, "nested"),
        ({"nested": [{"a": 1}]}, "nested"),
        ({"blob": b"bytes"}, "blob"),
        ({"value": math.inf}, "value"),
        ({"deep": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "deep[a][b][c][d][e]"),
    ],
)
def test_extra_body_values_that_cannot_be_form_fields(extra_body: Any, param: str) -> None:
    # The error names the argument (extra_body) and, in its message, the field inside it.
    with pytest.raises(InvalidInputError) as info:
        fields_of(extra_body=extra_body)
    assert info.value.param == "extra_body"
    if param != "extra_body":
        assert repr(param.split("[", maxsplit=1)[0]) in str(info.value)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (-3, "-3"),
        (2.5, "2.5"),
        (1e16, "10000000000000000"),
        (1.5e-7, "0.00000015"),
        (Decimal("1.50"), "1.5"),
        (Decimal("1E+2"), "100"),
        ("verbatim text", "verbatim text"),
    ],
)
def test_encode_scalar(value: object, sent: str) -> None:
    assert encode_scalar("x", value) == sent


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, Decimal("NaN"), b"raw", object(), None]
)
def test_encode_scalar_refuses(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        encode_scalar("field", value)
    assert info.value.param == "field"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_sent_exactly_and_never_in_exponent_form(value: float) -> None:
    sent = encode_scalar("x", value)
    assert "e" not in sent.lower()
    assert float(sent) == value


def test_encode_field_shapes() -> None:
    assert encode_field("a", None) == []
    assert encode_field("a", "x") == [("a", "x")]
    assert encode_field("a", []) == []
    assert encode_field("a", {"z", "b"}) == [("a[]", "b"), ("a[]", "z")]
    assert encode_field("a", {"b": {"c": [1, True]}}) == [("a[b][c][]", "1"), ("a[b][c][]", "true")]


# -- checks ------------------------------------------------------------------------------------

BAD_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"language": "EN"}, "language"),
    ({"language": "en-US"}, "language"),
    ({"language": "english"}, "language"),
    ({"language": "xx"}, "language"),
    ({"language": ""}, "language"),
    ({"language": 5}, "language"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": b"bytes"}, "prompt"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 1.5}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"temperature": math.inf}, "temperature"),
    ({"temperature": "0.2"}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"preference": "fast"}, "preference"),
    ({"preference": "SPEED"}, "preference"),
    ({"allowed_providers": "ovh"}, "allowed_providers"),
    ({"allowed_providers": b"ovh"}, "allowed_providers"),
    ({"allowed_providers": []}, "allowed_providers"),
    ({"allowed_providers": [""]}, "allowed_providers"),
    ({"allowed_providers": ["  "]}, "allowed_providers"),
    ({"allowed_providers": [1]}, "allowed_providers"),
    ({"allowed_providers": {"ovh": True}}, "allowed_providers"),
    ({"eu_native": "true"}, "eu_native"),
    ({"eu_native": 1}, "eu_native"),
    ({"allow_quantization": "false"}, "allow_quantization"),
    ({"allow_quantization": 0}, "allow_quantization"),
    ({"allow_zero_data_retention": "yes"}, "allow_zero_data_retention"),
    ({"enable_model_fallback": 1}, "enable_model_fallback"),
    ({"response_format": "xml"}, "response_format"),
    ({"response_format": "JSON"}, "response_format"),
    ({"timestamp_granularities": "words"}, "timestamp_granularities"),
    ({"timestamp_granularities": []}, "timestamp_granularities"),
    ({"timestamp_granularities": 1}, "timestamp_granularities"),
    ({"model": ""}, "model"),
    ({"model": "   "}, "model"),
    ({"model": None}, "model"),
    ({"model": 3}, "model"),
    ({"extra_body": "x=1"}, "extra_body"),
]


@pytest.mark.parametrize(("kwargs", "param"), BAD_INPUTS)
def test_bad_input_names_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        build_params(**{"model": "whisper-large-v3", **kwargs})
    error = info.value
    assert error.param == param
    assert str(error).startswith(f"{param}: ")
    assert isinstance(error, ValueError)
    assert isinstance(error, TypeError)
    assert isinstance(error, TranscribeError)


@pytest.mark.parametrize(
    ("language", "suggestion"),
    [("EN", "en"), ("en-US", "en"), ("english", "en"), ("French", "fr"), ("pt_BR", "pt")],
)
def test_a_bad_language_suggests_the_code(language: str, suggestion: str) -> None:
    with pytest.raises(InvalidInputError, match=f"did you mean '{suggestion}'"):
        build_params(model="m", language=language)


def test_an_unknown_language_has_no_suggestion() -> None:
    with pytest.raises(InvalidInputError) as info:
        build_params(model="m", language="xx")
    assert "did you mean" not in str(info.value)
    assert "ISO-639-1" in str(info.value)


@pytest.mark.parametrize("language", ["en", "fr", "de", "uk", "zh"])
def test_iso_codes_are_accepted_as_given(language: str) -> None:
    assert fields_of(language=language)[1] == ("language", language)
