"""The private names tests use, in one table (a helper, not a test file).

Tests read the public surface (``transcribe_sdk``, ``.models``, ``.errors``, ``.streaming``,
``.files``, ``.testing``, ``.ray``, ``.local``) wherever it says what they check. Some check a
piece from the inside: the I/O-free retry flow, the multipart writer, the decoder, the CLI's
helpers. Those names are listed in :data:`PRIVATE` and nowhere else, so a private module that
moves means one line to edit here, not a dozen test files::

    from internals import build_params, settle

Each entry is ``"module:attribute"``, or ``"module"`` for a module a test patches. Nothing is
imported until a test asks for the name (``from internals import X`` asks, by way of the
module's ``__getattr__``), so a test file needing an optional extra still collects, and skips,
without it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

PRIVATE: dict[str, str] = {
    # -- the client core: one request's flow, its parameters and its answer -----------------
    "Call": "transcribe_sdk._client.call:Call",
    "Exchange": "transcribe_sdk._client.attempt:Exchange",
    "AttemptTrace": "transcribe_sdk._client.attempt:AttemptTrace",
    "answered_mid_upload": "transcribe_sdk._client.attempt:answered_mid_upload",
    "map_transport_error": "transcribe_sdk._client.attempt:map_transport_error",
    "Send": "transcribe_sdk._client.flow:Send",
    "Wait": "transcribe_sdk._client.flow:Wait",
    "call_flow": "transcribe_sdk._client.flow:call_flow",
    "settle": "transcribe_sdk._client.flow:settle",
    "within": "transcribe_sdk._client.options:within",
    "build_params": "transcribe_sdk._client.params:build_params",
    "encode_field": "transcribe_sdk._client.params:encode_field",
    "encode_scalar": "transcribe_sdk._client.params:encode_scalar",
    "as_format": "transcribe_sdk._client.response:as_format",
    "parse_success": "transcribe_sdk._client.response:parse_success",
    # -- how an answer becomes an error (the classes are public, in transcribe_sdk.errors) -----
    "error_from_response": "transcribe_sdk._error_words:error_from_response",
    "unwrap_message": "transcribe_sdk._error_words:unwrap_message",
    "RateGate": "transcribe_sdk._client.batch:RateGate",
    "base_module": "transcribe_sdk._client.base",
    "batch_module": "transcribe_sdk._client.batch",
    "shells_module": "transcribe_sdk._client.shells",
    "route_from_headers": "transcribe_sdk._route:route_from_headers",
    # -- HTTP: event streams, retry decisions ---------------------------------------------
    "SSEDecoder": "transcribe_sdk._http.sse:SSEDecoder",
    "EventTooLargeError": "transcribe_sdk._http.sse:EventTooLargeError",
    "INFLATE_PIECE": "transcribe_sdk._http.inflate:PIECE",
    "BodyDecoder": "transcribe_sdk._http.inflate:Decoder",
    "error_payload": "transcribe_sdk.local._app:error_payload",
    "ServerSentEvent": "transcribe_sdk._http.sse:ServerSentEvent",
    "RETRYABLE_STATUSES": "transcribe_sdk._http.retry:RETRYABLE_STATUSES",
    "is_retryable_status": "transcribe_sdk._http.retry:is_retryable_status",
    "parse_retry_after": "transcribe_sdk._http.retry:parse_retry_after",
    "parse_router_wait": "transcribe_sdk._http.retry:parse_router_wait",
    "server_says_retry": "transcribe_sdk._http.retry:server_says_retry",
    # -- inputs: files, async files, formats, multipart -----------------------------------------
    "content_type_for": "transcribe_sdk._formats:content_type_for",
    "extension_of": "transcribe_sdk._formats:extension_of",
    "sniff_extension": "transcribe_sdk._formats:sniff_extension",
    "aopen": "transcribe_sdk._inputs.async_files:aopen",
    "aprepare_file": "transcribe_sdk._inputs.async_files:aprepare_file",
    "aspool": "transcribe_sdk._inputs.async_files:aspool",
    "async_files_module": "transcribe_sdk._inputs.async_files",
    "GLUE_MAX": "transcribe_sdk._inputs.multipart:GLUE_MAX",
    "MultipartBody": "transcribe_sdk._inputs.multipart:MultipartBody",
    "multipart_module": "transcribe_sdk._inputs.multipart",
    # -- audio: decode, split, stitch, long audio -----------------------------------------------
    "decode_module": "transcribe_sdk._audio.decode",
    "AudioStream": "transcribe_sdk._audio.decode:AudioStream",
    "DecodeError": "transcribe_sdk._audio.decode:DecodeError",
    "DecodedTooLongError": "transcribe_sdk._audio.decode:AudioTooLongError",
    "SAMPLE_RATE": "transcribe_sdk._audio.decode:SAMPLE_RATE",
    "check_wav_codec": "transcribe_sdk._audio.decode:check_wav_codec",
    "decode": "transcribe_sdk._audio.decode:decode",
    "long_module": "transcribe_sdk._audio.long",
    "Piece": "transcribe_sdk._audio.splitter:Piece",
    "iter_pieces": "transcribe_sdk._audio.splitter:iter_pieces",
    "probe_duration": "transcribe_sdk._audio.splitter:probe_duration",
    "quietest_cut": "transcribe_sdk._audio.splitter:quietest_cut",
    "stitch": "transcribe_sdk._audio.stitch:stitch",
    # -- the command line -----------------------------------------------------------------------
    "cli_main": "transcribe_sdk.cli._main",
    "cli_output": "transcribe_sdk.cli._output",
    "cli_progress": "transcribe_sdk.cli._progress",
    "build_parser": "transcribe_sdk.cli._args:build_parser",
    "call_options": "transcribe_sdk.cli._args:call_options",
    "add_ray_arguments": "transcribe_sdk.cli._args:add_ray_arguments",
    "as_json": "transcribe_sdk.cli._output:as_json",
    "cli_message": "transcribe_sdk.cli._output:cli_message",
    "render": "transcribe_sdk.cli._output:render",
    "stdout_text": "transcribe_sdk.cli._output:stdout_text",
    "Progress": "transcribe_sdk.cli._progress:Progress",
    "cli_ray": "transcribe_sdk.cli._ray",
    "RemoteFailure": "transcribe_sdk.cli._ray:RemoteFailure",
    "transcribe_args_on_ray": "transcribe_sdk.cli._ray:transcribe_args_on_ray",
    "transcribe_on_ray": "transcribe_sdk.cli._ray:transcribe_on_ray",
    "unreachable": "transcribe_sdk.cli._ray:_unreachable",
    # -- the local engine and its forms ---------------------------------------------------------
    "engine_module": "transcribe_sdk.local._engine",
    "Transcript": "transcribe_sdk.local._results:Transcript",
    "model_folder": "transcribe_sdk.local._models:model_folder",
    "temperature_schedule": "transcribe_sdk.local._engine:temperature_schedule",
    "EngineChild": "transcribe_sdk.local._child:_Child",
    "inprocess_module": "transcribe_sdk.local._inprocess",
    "process_module": "transcribe_sdk.local._process",
    "client_engine": "transcribe_sdk.local._process:client_engine",
    "section_ranges": "transcribe_sdk.local._sections:section_ranges",
    "COMPRESSION_RATIO_THRESHOLD": "transcribe_sdk.local._batched:COMPRESSION_RATIO_THRESHOLD",
    "failed": "transcribe_sdk.local._batched:failed",
    "results_module": "transcribe_sdk.local._results",
    "RAY_METRICS_ENV": "transcribe_sdk.ray._actors:RAY_METRICS_ENV",
    "actor_runtime_env": "transcribe_sdk.ray._actors:actor_runtime_env",
    "Form": "transcribe_sdk.local._forms:Form",
    "FormError": "transcribe_sdk.local._forms:FormError",
    "FormReader": "transcribe_sdk.local._forms:FormReader",
    "MAX_FIELDS": "transcribe_sdk.local._forms:MAX_FIELDS",
    "MAX_FIELD_BYTES": "transcribe_sdk.local._forms:MAX_FIELD_BYTES",
    "SPOOL_MEMORY_BYTES": "transcribe_sdk.local._forms:SPOOL_MEMORY_BYTES",
    "read_form": "transcribe_sdk.local._forms:read_form",
    "Options": "transcribe_sdk.local._options:Options",
    "parse_options": "transcribe_sdk.local._options:parse_options",
    "Cancelled": "transcribe_sdk.local._results:Cancelled",
    "WINDOW_SECONDS": "transcribe_sdk.local._batched:WINDOW_SECONDS",
    "MAX_BATCH_SIZE": "transcribe_sdk.local._batched:MAX_BATCH_SIZE",
    "heard": "transcribe_sdk.local._batched:heard",
    "Window": "transcribe_sdk.local._batched:Window",
    "retimed": "transcribe_sdk.local._batched:retimed",
    "cutting_options": "transcribe_sdk.local._batched:cutting_options",
    "speech_windows": "transcribe_sdk.local._batched:speech_windows",
    "plan_split": "transcribe_sdk._audio.long:plan_split",
    # -- the server -----------------------------------------------------------------------------
    "create_app": "transcribe_sdk.server._app:create_app",
    "ServerSettings": "transcribe_sdk.server._settings:ServerSettings",
    "bind": "transcribe_sdk.server._main:bind",
    "server_parser": "transcribe_sdk.server._args:build_parser",
    "settings_from": "transcribe_sdk.server._args:settings_from",
    "make_engine": "transcribe_sdk.server._main:make_engine",
    "uvicorn_options": "transcribe_sdk.server._main:_uvicorn_options",
    # -- Ray ------------------------------------------------------------------------------------
    "Limiter": "transcribe_sdk.ray._limit:_Limiter",
    "params_digest": "transcribe_sdk.ray._rows:params_digest",
    "row_key": "transcribe_sdk.ray._rows:row_key",
    "error_row": "transcribe_sdk.ray._rows:error_row",
    "result_row": "transcribe_sdk.ray._rows:result_row",
    "WorkerSettings": "transcribe_sdk.ray._worker:Settings",
    "named_wait": "transcribe_sdk.ray._worker:_named_wait",
}


def resolve(name: str) -> Any:
    """The object :data:`PRIVATE` names ``name``, imported now."""
    try:
        where = PRIVATE[name]
    except KeyError:
        raise AttributeError(f"tests/internals.py has no entry {name!r}") from None
    module_name, _, attribute = where.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


# -- what the tests do with the private names, kept beside the table ----------------------------
class _Patched:
    """A module whose ``sleep`` is replaced; every other attribute is the real one."""

    def __init__(self, module: Any, sleep: Callable[..., Any]) -> None:
        self._module = module
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def record_sleeps(monkeypatch: Any) -> list[float]:
    """Make the clients' waits between retries free: each delay is recorded, not slept.

    Replaces ``time`` and ``anyio`` as seen by ``transcribe_sdk._client.shells`` only (the two
    places the shells sleep), so nothing else in the process is affected.
    """
    import anyio

    shells = resolve("shells_module")
    delays: list[float] = []
    real_sleep = anyio.sleep

    async def asleep(seconds: float) -> None:
        delays.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(shells, "time", _Patched(time, delays.append))
    monkeypatch.setattr(shells, "anyio", _Patched(anyio, asleep))
    return delays


def __getattr__(name: str) -> Any:  # PEP 562: ``from internals import X`` resolves X here
    if name.startswith("__"):
        raise AttributeError(name)
    return resolve(name)
