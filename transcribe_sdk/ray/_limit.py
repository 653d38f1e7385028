"""One rate limit for a whole cluster: a named Ray actor that every worker asks before a request.

The actor holds three things: how many requests are in flight (leases, so a worker that dies
holding one does not shrink the cap for ever), when the next request may start (requests per
minute as an even spacing), and a pause that any worker sets when the server answers 429 with
``Retry-After``. Workers call :meth:`_Limiter.acquire` before each attempt and
:meth:`_Limiter.release` after it; the actor is async, so waiting callers cost no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError
from ._actors import actor_runtime_env

__all__ = ["DEFAULT_LEASE_SECONDS", "MAX_WAITING", "RateLimit"]

DEFAULT_NAME = "transcribe-sdk-rate-limit"
DEFAULT_LEASE_SECONDS = 900.0
"""A permit not released within this many seconds is taken back (its worker is presumed dead)."""
MAX_WAITING = 10_000
"""Calls the limiter actor serves at once: every worker's waiting ``acquire`` is one."""


def _check_count(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(name, f"must be an int of 1 or more, or None, not {value!r}")
    return value


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidInputError(name, f"must be a finite number of seconds over 0, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class RateLimit:
    """A limit shared by every worker of a Ray job, whatever node it runs on.

    ``max_in_flight`` caps the requests being sent or awaited at once across the cluster;
    ``requests_per_minute`` spaces request starts at least ``60 / requests_per_minute``
    seconds apart; and a ``429`` with ``Retry-After`` seen by any worker pauses every worker
    for that long. ``None`` leaves that limit off. Retries count like first attempts.

    The limit lives in one Ray actor named ``name`` (in the job's namespace), started by
    :func:`~transcribe_sdk.ray.transcribe_dataset`; the value itself is plain settings.

    Example::

        limit = RateLimit(max_in_flight=32, requests_per_minute=600)
        out = transcribe_dataset(ds, model="whisper-large-v3", rate_limit=limit)
    """

    max_in_flight: int | None = None
    requests_per_minute: int | None = None
    name: str = DEFAULT_NAME
    lease_seconds: float = DEFAULT_LEASE_SECONDS

    def __post_init__(self) -> None:
        _check_count("max_in_flight", self.max_in_flight)
        _check_count("requests_per_minute", self.requests_per_minute)
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError("name", f"must be a non-empty str, not {self.name!r}")
        _check_seconds("lease_seconds", self.lease_seconds)

    def start(self) -> Any:
        """The limiter actor's handle: started now, or the running one of this ``name``.

        A running one takes this value's settings (the newest apply to everyone using the
        name). Needs Ray initialised (``ray.init()``).
        """
        import ray

        mine = (self.max_in_flight, self.requests_per_minute, self.lease_seconds)
        runtime_env = actor_runtime_env()  # as the transcribing actors: see _actors.py
        extra: dict[str, Any] = {} if runtime_env is None else {"runtime_env": runtime_env}
        for attempt in range(START_ATTEMPTS):
            handle: Any = (
                ray.remote(_Limiter)
                .options(
                    num_cpus=0,
                    max_concurrency=MAX_WAITING,
                    name=self.name,
                    get_if_exists=True,
                    **extra,
                )
                .remote(*mine)
            )
            try:
                # An actor of this name from an earlier call of this job takes these settings.
                identity = ray.get(handle.configure.remote(*mine))
            except ray.exceptions.ActorDiedError:
                # The earlier call's limiter was being torn down as its last user let go: the
                # name frees up once it is gone, and the next try starts a new one.
                if attempt == START_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            # A named actor lives as long as its creator holds a handle. Kept here, the one this
            # driver started outlives this run's objects, so a later run that finds it by name
            # (or a worker still holding it) never meets an actor being torn down.
            _keep(self.name, identity, handle)
            return handle
        raise AssertionError("unreachable")  # the loop returns or raises


_KEPT: dict[str, tuple[object, Any]] = {}
"""The limiter this process started or found, per name: the actor's id and the first handle
this process got for it (see :func:`_keep`)."""


def _keep(name: str, identity: str, handle: Any) -> None:
    # The first handle to an actor is kept, not the newest: when this process started the
    # actor, that one is its owner's, and with it dropped for a handle found later by name the
    # actor was torn down while still in use ("all references to the actor were removed").
    # ``identity`` is the actor's own (it tells a new actor of the same name from the old one).
    kept = _KEPT.get(name)
    if kept is None or kept[0] != identity:
        _KEPT[name] = (identity, handle)


START_ATTEMPTS = 5
"""Tries to get a running limiter, when one of the same name is going away meanwhile."""


class _Limiter:
    """The actor behind :class:`RateLimit` (async: each waiting call is a coroutine)."""

    def __init__(self, max_in_flight: int | None, rpm: int | None, lease_seconds: float) -> None:
        self.identity = uuid.uuid4().hex
        self.configure(max_in_flight, rpm, lease_seconds)
        self._leases: dict[int, float] = {}
        self._next_token = 0
        self._next_start = 0.0
        self._paused_until = 0.0
        self._changed: asyncio.Condition | None = None
        self.started = 0
        self.paused = 0

    def configure(self, max_in_flight: int | None, rpm: int | None, lease_seconds: float) -> str:
        """Take new limits (permits already out stay out until released); this actor's id."""
        self._max = max_in_flight
        self._rpm = rpm
        self._interval = 60.0 / rpm if rpm else 0.0
        self._lease = lease_seconds
        return self.identity

    def settings(self) -> tuple[int | None, int | None, float]:
        return (self._max, self._rpm, self._lease)

    def _condition(self) -> asyncio.Condition:
        # Made on first use, inside the actor's event loop (Python 3.10 binds it at creation).
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _wait(self, changed: asyncio.Condition, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout=max(0.001, seconds))

    async def acquire(self) -> int:
        """Wait for a free slot, the next start time and the end of any pause; a permit token."""
        changed = self._condition()
        async with changed:
            while True:
                now = time.monotonic()
                for token in [t for t, end in self._leases.items() if end <= now]:
                    del self._leases[token]  # a worker that never came back
                ready_at = max(self._paused_until, self._next_start)
                if ready_at > now:
                    await self._wait(changed, ready_at - now)
                elif self._max is not None and len(self._leases) >= self._max:
                    await self._wait(changed, min(self._leases.values()) - now)
                else:
                    break
            self._next_start = now + self._interval
            self._next_token += 1
            self._leases[self._next_token] = now + self._lease
            self.started += 1
            return self._next_token

    async def release(self, token: int) -> None:
        """Give a permit back (a token already taken back or released is ignored)."""
        changed = self._condition()
        async with changed:
            if self._leases.pop(token, None) is not None:
                changed.notify_all()  # waiters for a slot and for a start time share it

    async def pause(self, seconds: float) -> None:
        """No worker starts a request for ``seconds`` from now (a longer pause already set wins)."""
        changed = self._condition()
        async with changed:
            self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))
            self.paused += 1

    def stats(self) -> dict[str, int]:
        """Requests let through, pauses asked for and permits held now (for tests and logs)."""
        return {"started": self.started, "paused": self.paused, "in_flight": len(self._leases)}
