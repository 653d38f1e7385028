"""``transcribe_dataset``: a Ray Dataset of audio files in, one transcript row per file out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from .._client.options import ENV_API_KEY, ENV_BASE_URL, TranscribeOptions
from ..errors import InvalidInputError
from ._actors import actor_runtime_env
from ._limit import RateLimit
from ._rows import done_keys, params_digest
from ._worker import Settings, TranscribeBatch

if TYPE_CHECKING:
    import ray.data

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONCURRENCY",
    "IO_CPUS",
    "MAX_DEFAULT_CONCURRENCY",
    "transcribe_dataset",
]

DEFAULT_CONCURRENCY = None
"""``concurrency`` not given: as many actors as the cluster's CPUs hold (see
:func:`default_concurrency`), at most :data:`MAX_DEFAULT_CONCURRENCY`."""
MAX_DEFAULT_CONCURRENCY = 32
"""The most actors the default gives (a rate limit, not actors, bounds a big cluster)."""
READ_CPUS = 1.0
"""CPUs left free for Ray Data's own tasks (reading the files), on a cluster of more than
two CPUs; on a smaller one, half of its CPUs."""
DEFAULT_BATCH_SIZE = 8
"""Files per batch; an actor sends a batch's files at the same time."""
IO_CPUS = 0.25
"""CPUs an actor that only waits on the network reserves (a quarter: four per core)."""
LOCAL_CPUS = 1.0
"""CPUs an actor running the local engine reserves (its model is compute-bound)."""
_CLIENT_OPTIONS = ("timeout", "default_headers")
_PER_CALL = ("max_retries", "deadline")


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(name, f"must be an int of 1 or more, not {value!r}")
    return value


def _check_concurrency(value: object) -> int | tuple[int, int]:
    if isinstance(value, tuple) and len(value) == 2:
        low, high = (_check_positive_int("concurrency", v) for v in value)
        if low > high:
            raise InvalidInputError("concurrency", f"(min, max) with min <= max, not {value!r}")
        return (low, high)
    return _check_positive_int("concurrency", value)


def _check_cpus(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1024:
        raise InvalidInputError("num_cpus", f"must be a number from 0 to 1024, not {value!r}")
    return float(value)


def cluster_cpus() -> float:
    """The CPUs of the cluster Ray is connected to (``ray.cluster_resources()``), or of this
    machine when Ray is not started yet (Ray Data would start a cluster of this machine)."""
    import ray

    if ray.is_initialized():
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        return float(resources.get("CPU", 0.0))
    return float(os.cpu_count() or 1)


def _room(total: float) -> float:
    """CPUs the actors may reserve: the cluster's, less what Ray Data's tasks need."""
    return total - min(READ_CPUS, total / 2)


def default_concurrency(cpus_per_actor: float, total: float) -> int:
    """Actors for ``concurrency=None``: as many as fit in the cluster's CPUs (``total``) with
    room left for reading, at least 1 and at most :data:`MAX_DEFAULT_CONCURRENCY`."""
    if cpus_per_actor <= 0:
        return MAX_DEFAULT_CONCURRENCY
    fit = int(_room(total) / cpus_per_actor + 1e-9)
    return max(1, min(MAX_DEFAULT_CONCURRENCY, fit))


def _check_placement(actors: int | tuple[int, int], cpus_per_actor: float, total: float) -> None:
    """Refuse, before the job starts, actors the cluster cannot place: Ray would wait for them
    for ever, without a word."""
    least = actors[0] if isinstance(actors, tuple) else actors
    needed = least * cpus_per_actor
    if total <= 0 or needed <= _room(total) + 1e-9:
        return
    fit = int(_room(total) / cpus_per_actor + 1e-9) if cpus_per_actor > 0 else least
    advice = (
        f"use concurrency={fit} or less"
        if fit >= 1
        else f"lower num_cpus (each actor reserves {cpus_per_actor:g})"
    )
    raise InvalidInputError(
        "concurrency",
        f"{least} actors reserving {cpus_per_actor:g} CPU each need {needed:g} CPUs, but the "
        f"cluster has {total:g} (of which {total - _room(total):g} stay free for reading the "
        f"files), so Ray could never place them and the job would wait for ever; {advice}, "
        "leave concurrency out (it follows the cluster's CPUs), or add nodes (an autoscaling "
        "cluster: concurrency=(min, max) with a min that fits now)",
    )


def transcribe_dataset(
    ds: ray.data.Dataset,
    *,
    model: str,
    rate_limit: RateLimit | None = None,
    concurrency: int | tuple[int, int] | None = DEFAULT_CONCURRENCY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_cpus: float | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    response_format: str | None = None,
    resume_from: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    keep_response: bool = False,
    default_headers: dict[str, str] | None = None,
    **options: Unpack[TranscribeOptions],
) -> ray.data.Dataset:
    """Transcribe every row of ``ds`` on a Ray cluster; one output row per input row.

    ``ds`` has a ``path`` column and, usually, a ``bytes`` column (what
    ``ray.data.read_binary_files(..., include_paths=True)`` gives); without ``bytes`` each
    actor reads ``path`` itself. The rows come back with ``path``, ``key``, ``text``,
    ``language``, ``duration``, ``provider``, ``model``, ``request_id``, ``usage`` and
    ``segments`` (JSON text), and ``error``: ``None``, or ``"<ErrorType>: <message>"`` for a
    file that failed (a failure is a row, it does not stop the job). ``keep_response=True``
    adds ``response``, the whole answer. The dataset is lazy: it runs when written or read.

    ``concurrency`` actors (an int, or ``(min, max)`` to let Ray scale; default: as many as
    the cluster's CPUs hold, see :func:`default_concurrency`) each hold one ``AsyncClient`` and
    send a batch of ``batch_size`` files at once; they reserve ``num_cpus`` each (default 0.25,
    or 1 with ``base_url="local"``, which loads the model once per actor). Actors the cluster
    cannot place raise :class:`~transcribe_sdk.InvalidInputError` here rather than leaving the
    job waiting for ever. ``rate_limit`` caps the whole cluster's in-flight requests and
    requests per minute, and one 429 pauses every actor. ``max_retries`` and ``deadline``
    apply per file; ``timeout`` and ``default_headers`` to each actor's client.

    ``resume_from``: earlier Parquet output (a folder, a file or a list; one that does not
    exist yet is fine). An input whose ``key`` (content hash + request parameters) has a row
    there without an error is left out, so a rerun does only what is left.

    The API key and base URL default to ``TRANSCRIBE_API_KEY`` and ``TRANSCRIBE_BASE_URL`` as
    the driver sees them, and are handed to the actors. Every option is checked here, before
    the job starts, and raises :class:`~transcribe_sdk.InvalidInputError` when wrong.

    Example::

        ds = ray.data.read_binary_files("audio/", include_paths=True)
        out = transcribe_dataset(ds, model="whisper-large-v3",
                                 rate_limit=RateLimit(max_in_flight=32, requests_per_minute=600))
        out.write_parquet("transcripts/")
    """
    from .._client.base import one_key_per_call
    from .._client.client import Client

    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise InvalidInputError("rate_limit", f"must be a RateLimit, not {rate_limit!r}")
    actors = None if concurrency is None else _check_concurrency(concurrency)
    batch_size = _check_positive_int("batch_size", batch_size)
    if not isinstance(keep_response, bool):
        raise InvalidInputError("keep_response", f"must be a bool, not {keep_response!r}")
    base_url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL)
    api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
    client_options: dict[str, Any] = {"default_headers": default_headers}
    if options.get("timeout") is not None:
        client_options["timeout"] = options["timeout"]
    # A client in the driver checks the key, the URL and every option before any actor starts.
    # Each row's Idempotency-Key is its own (see TranscribeBatch); one for all rows is refused.
    one_key_per_call(options)
    with Client(api_key=api_key, base_url=base_url, **client_options) as probe:
        call = probe._prepare_call(model, response_format, options)
        local = probe.local_model is not None
    cpus = (LOCAL_CPUS if local else IO_CPUS) if num_cpus is None else _check_cpus(num_cpus)
    total = cluster_cpus()
    if actors is None:
        actors = default_concurrency(cpus, total)
    _check_placement(actors, cpus, total)
    settings = Settings(
        model=model,
        response_format=response_format,
        options={k: v for k, v in options.items() if k not in _PER_CALL},
        params_digest=params_digest(call.params.fields, call.params.response_format),
        base_url=base_url,
        api_key=api_key,
        client_options=client_options,
        policy=call.policy,
        done=done_keys(resume_from) if resume_from is not None else frozenset(),
        keep_response=keep_response,
    )
    limiter = rate_limit.start() if rate_limit is not None else None
    from ray.data import ActorPoolStrategy

    pool = (
        ActorPoolStrategy(min_size=actors[0], max_size=actors[1])
        if isinstance(actors, tuple)
        else ActorPoolStrategy(size=actors)
    )
    runtime_env = actor_runtime_env()  # Ray's metrics off in the actors: see _actors.py
    extra: dict[str, Any] = {} if runtime_env is None else {"runtime_env": runtime_env}
    return ds.map_batches(
        TranscribeBatch,
        fn_constructor_kwargs={"settings": settings, "limiter": limiter},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=pool,
        num_cpus=cpus,
        **extra,
    )
