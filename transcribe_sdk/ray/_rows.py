"""The output rows of a Ray transcription job, and the keys that let a rerun skip done work.

A row's ``key`` is the SHA-256 of the audio bytes followed by a digest of the request's
parameters (the form fields sent, the response format): the same file asked the same way has
the same key wherever it lives, and asking differently (another model, language, prompt) is
new work. A rerun with ``resume_from`` skips every input whose key has a row without an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, TranscribeError, type_name

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["COLUMNS", "done_keys", "error_row", "params_digest", "result_row", "row_key"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("path", "string"),
    ("key", "string"),
    ("text", "string"),
    ("language", "string"),
    ("duration", "float64"),
    ("provider", "string"),
    ("model", "string"),
    ("request_id", "string"),
    ("usage", "string"),
    ("segments", "string"),
    ("route", "string"),
    ("cost", "float64"),
    ("error", "string"),
)
"""Every output column and its Arrow type; ``usage``, ``segments`` and ``route`` (what the
router said: deployment, retries, cost) hold JSON text; ``cost`` is the router's cost, or null
when it did not say."""
RESPONSE_COLUMN = ("response", "string")
"""Added with ``keep_response=True``: the whole answer (JSON text for the JSON formats)."""
KEY_DIGEST_CHARS = 32
"""Hex digits kept of each half of a key (128 bits): unique enough, half the memory of 256."""
HASH_CHUNK = 1024 * 1024
"""Bytes read at a time when hashing a file the actor reads itself."""
MAX_DONE_KEYS = 10_000_000
"""Keys ``resume_from`` loads at most (about 160 bytes each, in the driver and every actor)."""


def schema(keep_response: bool) -> pa.Schema:
    import pyarrow as pa

    columns = [*COLUMNS, RESPONSE_COLUMN] if keep_response else list(COLUMNS)
    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in columns])


def params_digest(fields: Sequence[tuple[str, str]], response_format: str | None) -> str:
    """A digest of what a request asks for (not of where it goes, its key or its timeouts)."""
    text = json.dumps({"fields": [list(f) for f in fields], "format": response_format})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_DIGEST_CHARS]


def row_key(data: bytes, digest: str) -> str:
    """``<content hash>-<parameters digest>``: the identity of one piece of work."""
    return f"{hashlib.sha256(data).hexdigest()[:KEY_DIGEST_CHARS]}-{digest}"


def idempotency(key: str) -> str:
    """The Idempotency-Key of the row whose :func:`row_key` is ``key``: the same on every attempt,
    every actor and every retried task, so a re-send is one piece of work to the server."""
    return f"transcribe-sdk-{key}"


def file_key(path: str, digest: str) -> str:
    """:func:`row_key` of the file at ``path``, read in pieces of :data:`HASH_CHUNK` bytes."""
    content = hashlib.sha256()
    with open(path, "rb") as stream:
        while piece := stream.read(HASH_CHUNK):
            content.update(piece)
    return f"{content.hexdigest()[:KEY_DIGEST_CHARS]}-{digest}"


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return json.dumps([v.model_dump(mode="json", exclude_none=True) for v in value])
    return str(value.model_dump_json(exclude_none=True))


def result_row(
    path: str, key: str, result: Any, keep_response: bool, route: Any = None
) -> dict[str, Any]:
    """The row of a transcribed file: a ``Transcription`` or the text of a text format;
    ``route`` is the answer's (the result's own when not given)."""
    from ..models import Transcription

    row: dict[str, Any] = {"path": path, "key": key, "error": None}
    row.update(_route_columns(route if route is not None else getattr(result, "route", None)))
    if isinstance(result, Transcription):
        duration = getattr(result, "duration", None)
        row.update(
            text=result.text,
            language=result.language,
            duration=float(duration) if duration is not None else None,
            provider=result.provider,
            model=result.model,
            request_id=result.request_id,
            usage=_json(getattr(result, "usage", None)),
            segments=_json(result.segments),
        )
        if keep_response:
            row["response"] = result.model_dump_json(exclude_none=True)
    else:
        row["text"] = str(result)
        if keep_response:
            row["response"] = str(result)
    return row


def _route_columns(route: Any) -> dict[str, Any]:
    if route is None or route.is_empty:
        return {"route": None, "cost": None}
    return {"route": route.model_dump_json(exclude_none=True), "cost": route.cost}


def error_row(path: str, key: str | None, error: BaseException) -> dict[str, Any]:
    """The row of a file that failed: ``error`` is ``"<Type>: <message>"``; ``route`` and
    ``cost`` are the failed answer's, when the router said (a failed request may be billed)."""
    message = error.message if isinstance(error, TranscribeError) else str(error)
    row = {"path": path, "key": key, "error": f"{type_name(error)}: {message}"}
    return {**row, **_route_columns(getattr(error, "route", None))}


def to_table(rows: Iterable[dict[str, Any]], keep_response: bool) -> pa.Table:
    """Rows as one Arrow table with the fixed schema (so every block has the same types)."""
    import pyarrow as pa

    wanted = schema(keep_response)
    rows = list(rows)
    return pa.Table.from_pydict(
        {name: [row.get(name) for row in rows] for name in wanted.names}, schema=wanted
    )


def done_keys(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> frozenset[str]:
    """The keys of the rows without an error in earlier Parquet output (a folder, a file, or a
    list of them; one that does not exist yet holds nothing)."""
    import pyarrow.dataset as pads

    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    keys: set[str] = set()
    for item in sources:
        where = os.fspath(item)
        if "://" not in where and not os.path.exists(where):
            continue  # the first run: nothing done yet
        try:
            table = pads.dataset(where, format="parquet").to_table(columns=["key", "error"])
        except (OSError, ValueError, KeyError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise InvalidInputError(
                "resume_from", f"cannot read keys from {where!r}: {exc}"
            ) from None
        for key, error in zip(
            table.column("key").to_pylist(), table.column("error").to_pylist(), strict=True
        ):
            if key is not None and error is None:
                keys.add(key)
        if len(keys) > MAX_DONE_KEYS:
            raise InvalidInputError(
                "resume_from", f"holds over {MAX_DONE_KEYS} keys; split the job into parts"
            )
    return frozenset(keys)
