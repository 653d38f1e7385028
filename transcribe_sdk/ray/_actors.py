"""The process environment of the Ray actors this package starts (the transcribing actors and
the rate limiter).

Ray's own metrics are turned off in them. With metrics on, each Ray worker process runs an
OpenCensus harvester thread (Ray's C++ core) that wakes every 100 ms and takes a lock. When Ray
Data releases an actor (it releases every idle one as soon as a job's input is handed out), that
thread can take its lock while Ray's exit path is tearing the process down: the actor then dies
with an abseil "Mutex corrupt: both reader and writer lock held ... SIGABRT" dump that Ray
forwards to the driver's terminal. No row is lost (the actor had finished), but it reads as a
crash. With ``RAY_enable_metrics_collection=0`` Ray never starts that thread (the worker's log
says "Disabled stats."). The variable goes in the actors' ``runtime_env``, so it touches only
these actors, and only when the driver's environment does not name it: whoever sets it there
(to ``1`` to keep Ray's metrics for these actors too) decides.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["RAY_METRICS_ENV", "actor_runtime_env"]

RAY_METRICS_ENV = "RAY_enable_metrics_collection"
"""Ray's switch for its metrics (its ``RayConfig`` entry ``enable_metrics_collection``)."""


def actor_runtime_env() -> dict[str, Any] | None:
    """The ``runtime_env`` for an actor of this package: Ray's metrics off, or ``None`` when the
    driver's environment sets :data:`RAY_METRICS_ENV` itself (then it is the user's choice)."""
    if RAY_METRICS_ENV in os.environ:
        return None
    return {"env_vars": {RAY_METRICS_ENV: "0"}}
