"""The callable class Ray Data maps over batches: one ``AsyncClient`` per actor, a batch's
files sent concurrently, each attempt let through by the cluster's :class:`RateLimit`.

Ray calls ``__call__`` on the actor's own thread; the client lives on an event loop in a
thread of its own (made once per actor), so its connections are reused from batch to batch.
Each attempt is one request: the client is made with ``max_retries=0`` and the retries happen
here, so every retry asks the limiter too, and a 429 pauses the whole cluster, not one task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._http.retry import RetryPolicy, parse_router_wait
from ..errors import APIConnectionError, APIStatusError, InvalidInputError, RateLimitError
from ._rows import error_row, file_key, idempotency, result_row, row_key, to_table

_log = logging.getLogger("transcribe_sdk.ray")
IDEMPOTENCY = "Idempotency-Key"

__all__ = ["Settings", "TranscribeBatch"]


@dataclass(frozen=True)
class Settings:
    """Everything an actor needs, checked by the driver before the job starts."""

    model: str
    response_format: str | None
    options: dict[str, Any]
    """The ``transcribe`` keyword arguments, without ``max_retries`` and ``deadline``."""
    params_digest: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    client_options: dict[str, Any] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    done: frozenset[str] = field(default_factory=frozenset, repr=False)
    keep_response: bool = False


class TranscribeBatch:
    """Transcribe one batch (columns ``path`` and, optionally, ``bytes``) into output rows.

    A row without ``bytes`` is read from ``path`` by the actor (storage every node sees). Rows
    whose key is in ``settings.done`` are left out of the output.
    """

    def __init__(self, settings: Settings, limiter: Any = None) -> None:
        from .._client.async_client import AsyncClient

        self._settings = settings
        self._limiter = limiter
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="transcribe-sdk-loop", daemon=True
        )
        self._thread.start()
        # One client per actor: made once, so base_url="local" loads its model once.
        self._client = AsyncClient(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=0,
            **settings.client_options,
        )

    def __call__(self, batch: Any) -> Any:
        if "path" not in batch.column_names:
            raise InvalidInputError(
                "ds",
                f"needs a 'path' column (read_binary_files(..., include_paths=True) gives one); "
                f"it has {batch.column_names}",
            )
        paths = [str(p) for p in batch.column("path").to_pylist()]
        if "bytes" in batch.column_names:
            datas: list[bytes | None] = batch.column("bytes").to_pylist()
        else:
            datas = [None] * len(paths)
        work = asyncio.run_coroutine_threadsafe(self._batch(paths, datas), self._loop)
        rows = [row for row in work.result() if row is not None]
        return to_table(rows, self._settings.keep_response)

    async def _batch(
        self, paths: list[str], datas: list[bytes | None]
    ) -> list[dict[str, Any] | None]:
        return list(
            await asyncio.gather(*(self._row(p, d) for p, d in zip(paths, datas, strict=True)))
        )

    async def _row(self, path: str, data: bytes | None) -> dict[str, Any] | None:
        key: str | None = None
        digest = self._settings.params_digest
        try:
            if data is None:  # hashed and then uploaded from disk in pieces, never whole
                key = await asyncio.to_thread(file_key, path, digest)
            else:
                key = row_key(data, digest)
            if key in self._settings.done:
                return None
            upload: Any = Path(path) if data is None else (Path(path).name, data)
            raw = await self._transcribe(upload, key)
            return result_row(path, key, raw.parsed, self._settings.keep_response, raw.route)
        except Exception as exc:  # a failure is a row; only the job's own end stops it
            return error_row(path, key, exc)

    async def _transcribe(self, upload: Any, key: str) -> Any:
        settings = self._settings
        started = time.monotonic()
        # The row's key (content + request) names the work, not the attempt: every attempt of
        # this actor, of a restarted actor and of a retried task sends the same one, so a server
        # that honours Idempotency-Key answers a re-send from its first answer.
        headers = {**(settings.options.get("extra_headers") or {}), IDEMPOTENCY: idempotency(key)}
        options = {**settings.options, "extra_headers": headers}
        attempt = 0
        while True:
            attempt += 1
            token = None if self._limiter is None else await self._limiter.acquire.remote()
            try:
                return await self._client.with_raw_response.transcribe(
                    upload,
                    model=settings.model,
                    response_format=settings.response_format,
                    **options,
                )
            except (APIStatusError, APIConnectionError) as exc:
                delay = await self._after(exc, attempt, time.monotonic() - started)
                if delay is None:
                    raise
            finally:
                if token is not None:
                    await self._give_back(token)
            await asyncio.sleep(delay)

    async def _give_back(self, token: int) -> None:
        """Return a permit. A limiter that is gone (its actor died) takes its permits with it:
        that must not replace the answer, paid for, that this attempt got, nor its error."""
        try:
            await self._limiter.release.remote(token)
        except Exception as exc:  # ray.exceptions.RayError and whatever the actor raised
            _log.warning(
                "transcribe-sdk: could not give a permit back to the rate limiter (%s: %s); "
                "the request's result is kept",
                type(exc).__name__,
                exc,
            )

    async def _after(
        self, exc: APIStatusError | APIConnectionError, attempt: int, elapsed: float
    ) -> float | None:
        """The delay before the next attempt, or None to give up; a 429 pauses everyone."""
        policy = self._settings.policy
        status = exc.status_code if isinstance(exc, APIStatusError) else None
        headers = exc.headers if isinstance(exc, APIStatusError) else None
        delay = policy.next_delay(
            attempt=attempt,
            status_code=status,
            headers=headers,
            elapsed=elapsed,
            now=time.time(),
            named_wait=None if status is None else _named_wait(status, exc),
        )
        if isinstance(exc, RateLimitError) and self._limiter is not None:
            wait = delay if delay is not None else exc.retry_after or policy.backoff(attempt)
            # As transcribe_many's gate: never longer than one call would wait itself.
            # Awaited before this attempt's permit goes back, so no one starts in between.
            await self._limiter.pause.remote(min(wait, policy.max_retry_after))
        if delay is None:
            exc.attempts = attempt
            if attempt > 1:
                exc.message += f" Gave up after {attempt} attempts."
                exc.args = (exc.message,)
        return delay


def _named_wait(status: int, exc: BaseException) -> float | None:
    """The wait a router named in the error's message ("Try again in 2 seconds")."""
    body = getattr(exc, "body", None)
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return parse_router_wait(status, text.encode("utf-8", "replace"))
