"""Wrong calls, as a table: each one raises a clear :class:`InvalidInputError` whose ``param``
names the argument at fault, and sends nothing.

Every row runs against ``Client`` and ``AsyncClient``. pytest-httpx stands in for the network
with no answer registered, so a request that slipped through would fail the row twice: as a
wrong error type here and as an unexpected request when the mock is torn down.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import API_KEY, BASE_URL, FIXTURES
from pytest_httpx import HTTPXMock

from transcribe_sdk import AsyncClient, Client, InvalidFileError, InvalidInputError

MODEL = "whisper-large-v3"
AUDIO = FIXTURES / "hello.wav"
DATA = AUDIO.read_bytes()

Factory = Callable[[Path, contextlib.ExitStack], Any]


@dataclass(frozen=True)
class Row:
    """One wrong call: ``param`` is the argument the error must name."""

    param: str
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of transcribe()
    file: Factory | None = None  # makes the file argument; None: a good WAV path
    client: dict[str, Any] = field(default_factory=dict)  # wrong client arguments
    only: str | None = None  # "sync" or "async" when the row makes sense for one client only

    @property
    def error(self) -> type[InvalidInputError]:
        return InvalidFileError if self.param == "file" else InvalidInputError


def _written(name: str, data: bytes) -> Factory:
    def make(tmp: Path, _stack: contextlib.ExitStack) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def _handle(mode: str, *, close: bool = False, read: bool = False) -> Factory:
    def make(_tmp: Path, stack: contextlib.ExitStack) -> Any:
        handle = stack.enter_context(open(AUDIO, mode))  # noqa: SIM115
        if read:
            handle.read()
        if close:
            handle.close()
        return handle

    return make


def _const(value: Any) -> Factory:
    return lambda _tmp, _stack: value


async def _chunks(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _agen(*items: Any) -> Factory:
    return lambda _tmp, _stack: _chunks(*items)


class _NoRead:
    """Has a ``read`` attribute that is not callable."""

    read = "not a method"


ROWS = [
    # -- the file ----------------------------------------------------------------------------------
    pytest.param(Row("file", file=lambda tmp, _s: tmp / "missing.wav"), id="file-missing"),
    pytest.param(Row("file", file=lambda tmp, _s: tmp), id="file-directory"),
    pytest.param(Row("file", file=_written("empty.wav", b"")), id="file-empty-path"),
    pytest.param(Row("file", file=_written("notes", b"plain words")), id="file-unknown-kind"),
    pytest.param(Row("file", file=_handle("r")), id="file-text-mode"),
    pytest.param(Row("file", file=_handle("rb", close=True)), id="file-closed"),
    pytest.param(Row("file", file=_handle("rb", read=True)), id="file-read-to-end"),
    pytest.param(Row("file", file=_const(io.StringIO("RIFF"))), id="file-stringio"),
    pytest.param(Row("file", file=_const(io.BytesIO())), id="file-empty-bytesio"),
    pytest.param(Row("file", file=_const(b"")), id="file-empty-bytes"),
    pytest.param(Row("file", file=_const(b"no magic number here")), id="file-bytes-no-format"),
    pytest.param(Row("file", file=_const(42)), id="file-int"),
    pytest.param(Row("file", file=_const(None)), id="file-none"),
    pytest.param(Row("file", file=_const([DATA])), id="file-list"),
    pytest.param(Row("file", file=_const(_NoRead())), id="file-read-not-callable"),
    pytest.param(Row("file", file=_const("https://example.com/a.wav")), id="file-url"),
    pytest.param(Row("file", file=_const(("a.wav",))), id="file-tuple-1"),
    pytest.param(Row("file", file=_const(("a.wav", DATA, "audio/wav", 1))), id="file-tuple-4"),
    pytest.param(Row("file", file=_const((3, DATA))), id="file-tuple-int-name"),
    pytest.param(Row("file", file=_const(("a.wav", DATA, 5))), id="file-tuple-int-type"),
    pytest.param(Row("file", file=_const(("a.wav", ("b.wav", DATA)))), id="file-tuple-nested"),
    pytest.param(Row("file", file=_agen(DATA), only="sync"), id="file-async-source-to-sync"),
    pytest.param(Row("file", file=_agen(), only="async"), id="file-async-empty"),
    pytest.param(Row("file", file=_agen("RIFF"), only="async"), id="file-async-yields-str"),
    pytest.param(Row("file", file=_agen(123), only="async"), id="file-async-yields-int"),
    # -- model and the spec's fields ---------------------------------------------------------------
    pytest.param(Row("model", {"model": None}), id="model-none"),
    pytest.param(Row("model", {"model": ""}), id="model-empty"),
    pytest.param(Row("model", {"model": "   "}), id="model-blank"),
    pytest.param(Row("model", {"model": 3}), id="model-int"),
    pytest.param(Row("language", {"language": "english"}), id="language-name"),
    pytest.param(Row("language", {"language": "EN"}), id="language-upper"),
    pytest.param(Row("language", {"language": "xx"}), id="language-unknown"),
    pytest.param(Row("language", {"language": 5}), id="language-int"),
    pytest.param(Row("prompt", {"prompt": b"bytes"}), id="prompt-bytes"),
    pytest.param(Row("prompt", {"prompt": 12}), id="prompt-int"),
    pytest.param(Row("response_format", {"response_format": "xml"}), id="format-unknown"),
    pytest.param(Row("response_format", {"response_format": "JSON"}), id="format-case"),
    pytest.param(Row("response_format", {"response_format": 1}), id="format-int"),
    pytest.param(Row("temperature", {"temperature": 1.5}), id="temperature-high"),
    pytest.param(Row("temperature", {"temperature": -0.1}), id="temperature-negative"),
    pytest.param(Row("temperature", {"temperature": math.nan}), id="temperature-nan"),
    pytest.param(Row("temperature", {"temperature": math.inf}), id="temperature-inf"),
    pytest.param(Row("temperature", {"temperature": "0.2"}), id="temperature-str"),
    pytest.param(Row("temperature", {"temperature": True}), id="temperature-bool"),
    pytest.param(Row("preference", {"preference": "fast"}), id="preference-unknown"),
    pytest.param(Row("preference", {"preference": 1}), id="preference-int"),
    pytest.param(Row("allowed_providers", {"allowed_providers": "ovh"}), id="providers-str"),
    pytest.param(Row("allowed_providers", {"allowed_providers": []}), id="providers-empty"),
    pytest.param(Row("allowed_providers", {"allowed_providers": ["ovh", 3]}), id="providers-int"),
    pytest.param(Row("allowed_providers", {"allowed_providers": [""]}), id="providers-blank"),
    pytest.param(Row("allowed_providers", {"allowed_providers": 5}), id="providers-not-list"),
    pytest.param(Row("eu_native", {"eu_native": "yes"}), id="eu-native-str"),
    pytest.param(Row("allow_quantization", {"allow_quantization": 1}), id="quantization-int"),
    pytest.param(
        Row("allow_zero_data_retention", {"allow_zero_data_retention": "true"}), id="zdr-str"
    ),
    pytest.param(Row("enable_model_fallback", {"enable_model_fallback": 0}), id="fallback-int"),
    pytest.param(
        Row("timestamp_granularities", {"timestamp_granularities": "char"}), id="granularity-bad"
    ),
    pytest.param(
        Row("timestamp_granularities", {"timestamp_granularities": []}), id="granularity-empty"
    ),
    pytest.param(
        Row(
            "timestamp_granularities",
            {"timestamp_granularities": ["word"], "response_format": "json"},
        ),
        id="granularity-needs-verbose",
    ),
    # -- extra body fields -------------------------------------------------------------------------
    pytest.param(Row("extra_body", {"extra_body": ["vad"]}), id="extra-body-list"),
    pytest.param(Row("extra_body", {"extra_body": {"model": "x"}}), id="extra-body-model"),
    pytest.param(Row("extra_body", {"extra_body": {"file": DATA}}), id="extra-body-file"),
    pytest.param(
        Row("extra_body", {"language": "fr", "extra_body": {"language": "en"}}),
        id="extra-body-repeats-keyword",
    ),
    pytest.param(Row("extra_body", {"extra_body": {"": 1}}), id="extra-body-empty-key"),
    pytest.param(Row("extra_body", {"extra_body": {1: "a"}}), id="extra-body-int-key"),
    pytest.param(
        Row("extra_body", {"extra_body": {"vad": object()}}), id="extra-body-object-value"
    ),
    pytest.param(Row("extra_body", {"extra_body": {"vad": math.nan}}), id="extra-body-nan-value"),
    # -- extra headers -----------------------------------------------------------------------------
    pytest.param(
        Row("extra_headers", {"extra_headers": {"Content-Type": "text/plain"}}),
        id="headers-content-type",
    ),
    pytest.param(
        Row("extra_headers", {"extra_headers": {"content-length": "1"}}),
        id="headers-content-length",
    ),
    pytest.param(Row("extra_headers", {"extra_headers": {"Host": "evil"}}), id="headers-host"),
    pytest.param(
        Row("extra_headers", {"extra_headers": {"Authorization": "Bearer x"}}),
        id="headers-authorization",
    ),
    pytest.param(Row("extra_headers", {"extra_headers": {"X-A": 1}}), id="headers-int-value"),
    pytest.param(Row("extra_headers", {"extra_headers": "X-A: 1"}), id="headers-str"),
    pytest.param(
        Row("extra_headers", {"extra_headers": {"X-A": "a\r\nX-B: b"}}), id="headers-crlf"
    ),
    pytest.param(Row("extra_headers", {"extra_headers": {"X A": "b"}}), id="headers-bad-name"),
    pytest.param(Row("extra_headers", {"extra_headers": {"X-A": "é"}}), id="headers-non-ascii"),
    # -- timeout, retries, deadline ----------------------------------------------------------------
    pytest.param(Row("timeout", {"timeout": 0}), id="timeout-zero"),
    pytest.param(Row("timeout", {"timeout": -1}), id="timeout-negative"),
    pytest.param(Row("timeout", {"timeout": math.nan}), id="timeout-nan"),
    pytest.param(Row("timeout", {"timeout": math.inf}), id="timeout-inf"),
    pytest.param(Row("timeout", {"timeout": "10"}), id="timeout-str"),
    pytest.param(Row("timeout", {"timeout": True}), id="timeout-bool"),
    pytest.param(Row("timeout", {"timeout": httpx.Timeout(-1)}), id="timeout-object-negative"),
    pytest.param(
        Row("timeout", {"timeout": httpx.Timeout(5, read=0)}), id="timeout-object-zero-read"
    ),
    pytest.param(Row("max_retries", {"max_retries": -1}), id="retries-negative"),
    pytest.param(Row("max_retries", {"max_retries": 1.5}), id="retries-float"),
    pytest.param(Row("max_retries", {"max_retries": True}), id="retries-bool"),
    pytest.param(Row("max_retries", {"max_retries": "2"}), id="retries-str"),
    pytest.param(Row("deadline", {"deadline": 0}), id="deadline-zero"),
    pytest.param(Row("deadline", {"deadline": -5}), id="deadline-negative"),
    pytest.param(Row("deadline", {"deadline": math.nan}), id="deadline-nan"),
    pytest.param(Row("deadline", {"deadline": "5"}), id="deadline-str"),
    pytest.param(Row("deadline", {"deadline": True}), id="deadline-bool"),
    # -- names that do not exist -------------------------------------------------------------------
    pytest.param(Row("languge", {"languge": "en"}), id="unknown-keyword"),
    pytest.param(Row("api_key", {"api_key": "sk-other"}), id="client-option-per-call"),
    # -- the client's own arguments ----------------------------------------------------------------
    pytest.param(Row("api_key", client={"api_key": 123}), id="client-api-key-int"),
    pytest.param(Row("api_key", client={"api_key": " sk-x "}), id="client-api-key-spaces"),
    pytest.param(Row("base_url", client={"base_url": "ftp://x/v1"}), id="client-url-scheme"),
    pytest.param(Row("base_url", client={"base_url": ""}), id="client-url-empty"),
    pytest.param(Row("base_url", client={"base_url": "http://"}), id="client-url-no-host"),
    pytest.param(Row("base_url", client={"base_url": 8080}), id="client-url-int"),
    pytest.param(Row("timeout", client={"timeout": 0}), id="client-timeout-zero"),
    pytest.param(Row("timeout", client={"timeout": math.inf}), id="client-timeout-inf"),
    pytest.param(Row("max_retries", client={"max_retries": -1}), id="client-retries-negative"),
    pytest.param(
        Row("default_headers", client={"default_headers": {"Content-Type": "x"}}),
        id="client-headers-content-type",
    ),
    pytest.param(
        Row("default_headers", client={"default_headers": {"X-A": "a\nb"}}),
        id="client-headers-newline",
    ),
    pytest.param(Row("http_client", client={"http_client": "x"}), id="client-http-client-str"),
]


def _raise_for(kind: str, row: Row, tmp_path: Path) -> InvalidInputError:
    """Make the wrong call; the error it raised (anything else fails the test)."""
    settings = {"api_key": API_KEY, "base_url": BASE_URL, **row.client}
    options = {"model": MODEL, **row.options}
    with contextlib.ExitStack() as stack:
        file = row.file(tmp_path, stack) if row.file is not None else AUDIO
        try:
            if kind == "sync":
                with Client(**settings) as client:
                    client.transcribe(file, **options)
            else:

                async def main() -> None:
                    async with AsyncClient(**settings) as client:
                        await client.transcribe(file, **options)

                anyio.run(main)
        except InvalidInputError as exc:
            return exc
    raise AssertionError(f"no error for {row}")


CASES = [
    pytest.param(kind, *case.values, id=f"{case.id}-{kind}")
    for case in ROWS
    for kind in ("sync", "async")
    if case.values[0].only in (None, kind)  # type: ignore[union-attr]
]


@pytest.mark.parametrize(("kind", "row"), CASES)
def test_a_wrong_call_names_its_argument_and_sends_nothing(
    kind: str, row: Row, tmp_path: Path, httpx_mock: HTTPXMock
) -> None:
    error = _raise_for(kind, row, tmp_path)
    assert isinstance(error, row.error), repr(error)
    assert error.param == row.param, repr(error)
    message = str(error)
    assert message.startswith(f"{row.param}: "), message
    assert len(message) > len(row.param) + 10  # says what is wrong, not just where
    assert isinstance(error, ValueError)  # and what stdlib code expects
    assert isinstance(error, TypeError)
    assert httpx_mock.get_requests() == []


def test_the_table_is_big_enough() -> None:
    assert len(ROWS) >= 30
    assert len({p.values[0].param for p in ROWS}) >= 20  # type: ignore[union-attr]
