"""``transcribe PATHS --ray [ADDRESS]``: the command's files transcribed by a Ray cluster.

Kept apart from ``_main.py`` (and imported only when ``--ray`` is given) so the command works
without Ray installed; its flags are in ``_args.py``. :func:`transcribe_on_ray` runs the files
and hands each finished one to the command's ``deliver`` (which writes its transcript and draws
progress), exactly as the one-machine path does, and returns the results in input order.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._client.batch import BatchResult
from .._client.options import ENV_BASE_URL
from ..errors import InvalidInputError, TranscribeError

__all__ = ["RemoteFailure", "transcribe_args_on_ray", "transcribe_on_ray"]

PER_ACTOR = 8
"""The most files an actor sends at once (its batch); the actor count covers the in-flight
cap. Fewer when the cluster has room for more actors: a batch is delivered (and the progress
moves) when all of its files are done, so one file per actor moves it file by file."""
INSTALL_RAY = (
    "pip install 'ray[data]>=2.45' (or, in a clone of transcribe-sdk, pip install -e '.[ray]')"
)
LOCAL_CLUSTER = "local"


class RemoteFailure(TranscribeError):
    """A file that failed on a Ray worker; ``error_type`` names the error it raised there."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _failure(text: str) -> RemoteFailure:
    kind, _, message = text.partition(": ")
    return RemoteFailure(kind, message or kind)


def _result(response: str | None, response_format: str, route: str | None) -> Any:
    """A row's result as the command prints it; a JSON result carries the row's ``route``
    (what the router said: deployment, retries, cost), as it does without ``--ray``."""
    from .._route import Route
    from ..models import Transcription, VerboseTranscription

    if response_format not in ("json", "verbose_json"):
        return response or ""
    model = VerboseTranscription if response_format == "verbose_json" else Transcription
    result = model.model_validate_json(response or "{}")
    if route:
        result._route = Route.model_validate_json(route)
    return result


PROBE_SECONDS = 5.0
"""How long the cluster's address may take to accept a connection before ``--ray`` says that
nothing answers there (Ray itself retries an address that answers nothing for minutes, its
C++ warnings on the terminal)."""


def _joined(address: str) -> str:
    """The address ``--ray ADDRESS`` joins: itself, or for ``auto`` ``RAY_ADDRESS`` (where Ray
    looks first; ``""`` when unset, and Ray then finds the machine's last cluster)."""
    return os.environ.get("RAY_ADDRESS", "") if address == "auto" else address


def _named_address(address: str) -> str | None:
    """The ``HOST:PORT`` that ``address`` joins (:func:`_joined`); None for a new cluster, the
    machine's last, or a ``ray://`` address."""
    address = _joined(address)
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or address.startswith("ray://"):
        return None
    return address


def _probe(address: str) -> None:
    """An :class:`InvalidInputError` naming ``--ray`` when nothing accepts a connection at
    ``address`` (``HOST:PORT``, the host perhaps ``[IPv6]``) within :data:`PROBE_SECONDS`."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            pass
    except (OSError, ValueError) as exc:  # refused, no route, unknown host, timed out, port
        reason = str(exc).strip() or type(exc).__name__
        raise InvalidInputError(
            "--ray", f"cannot connect to the Ray cluster at {address}: nothing answers ({reason})"
        ) from None


def _start(address: str, *, sent: bool = False) -> bool:
    """Connect to (or start) the cluster; True when this call started Ray and must stop it.
    A cluster that cannot be reached is an :class:`InvalidInputError` naming ``--ray``.
    ``sent``: :func:`_send_token` set ``RAY_AUTH_MODE`` for this call."""
    import ray

    if ray.is_initialized():
        return False
    named = _named_address(address)
    if named is not None:
        _probe(named)
    try:
        ray.init(
            address=address or LOCAL_CLUSTER,
            # A cluster of our own needs no dashboard; an existing one refuses the argument.
            include_dashboard=False if address in ("", LOCAL_CLUSTER) else None,
            log_to_driver=False,  # the workers' output would run through the progress line
            logging_level=logging.WARNING,
        )
    except Exception as exc:  # ConnectionError, ValueError (no ray[client]), ...
        raise InvalidInputError("--ray", _unreachable(address, exc, sent_token=sent)) from None
    return True


AUTH_MODE = "RAY_AUTH_MODE"
"""What tells a Ray driver to send the cluster's token (Ray's token authentication docs)."""


def _has_token() -> bool:
    """Whether this machine holds a Ray token where Ray reads one: ``RAY_AUTH_TOKEN``, the file
    ``RAY_AUTH_TOKEN_PATH`` names, else ``~/.ray/auth_token`` (where ``ray start`` writes it)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    try:
        return Path(named).is_file() if named else (Path.home() / ".ray" / "auth_token").is_file()
    except (OSError, RuntimeError):  # no home to look in
        return False


@contextlib.contextmanager
def _sending_token(address: str) -> Iterator[bool]:
    """``RAY_AUTH_MODE=token`` while the block runs, to join an existing cluster, when it is not
    set, Ray is not loaded yet (it reads the setting as it is imported) and this machine holds
    a token; yields whether it set it. ``ray start`` (Ray 2.59 or later) turns token
    authentication on and writes the token here, but a driver sends it only with that setting
    (without it Ray retries for about 20 s, its C++ warnings on the terminal, then fails); a
    cluster without authentication accepts a driver that sends one."""
    sent = not (
        address in ("", LOCAL_CLUSTER)
        or AUTH_MODE in os.environ
        or "ray" in sys.modules
        or not _has_token()
    )
    if sent:
        os.environ[AUTH_MODE] = "token"
    try:
        yield sent
    finally:
        if sent:
            os.environ.pop(AUTH_MODE, None)  # as it was


THROUGH_CLIENT = (
    "{address} is a Ray Client address, and Ray Data does not run through Ray's client: run "
    "transcribe on a machine of the cluster with --ray auto (from outside, with ray job submit)"
)
TOKEN_HINT = (
    "; a cluster that ray start began (Ray 2.59 or later) wants its token, and this machine has "
    "none: copy the cluster's ~/.ray/auth_token here (or set RAY_AUTH_TOKEN) and set "
    "RAY_AUTH_MODE=token"
)
SENT_HINT = (
    "; this machine's Ray token (RAY_AUTH_TOKEN, or ~/.ray/auth_token) was sent, and may not be "
    "the cluster's"
)


def _unreachable(address: str, exc: Exception, *, sent_token: bool = False) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    # An existing cluster may refuse us for want of its token; Ray says so only in its log.
    # With no cluster found at all, there was no one to refuse us.
    found = "Could not find any running Ray instance" not in str(exc)
    joined = address not in ("", LOCAL_CLUSTER) and found
    token = ""
    if joined and sent_token:
        token = SENT_HINT
    elif joined and AUTH_MODE not in os.environ:
        token = TOKEN_HINT
    if address == "auto" and not found:
        return (
            "auto: no Ray cluster runs on this machine (start one with ray start --head, or "
            f"write --ray alone for a new one just for this run) ({first}){token}"
        )
    return f"cannot connect to the Ray cluster at {address or 'a new local one'}: {first}{token}"


class _Say(logging.Handler):
    """Ray's log records as lines above the progress line."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.say(f"ray: {record.getMessage()}")


@contextlib.contextmanager
def _ray_logs_to(say: Callable[[str], None] | None) -> Iterator[None]:
    """While Ray runs, its loggers (``ray``, ``ray.data``) write through ``say``."""
    if say is None:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    saved = [(lg, list(lg.handlers), lg.propagate) for lg in loggers]
    handler = _Say(say)
    for lg in loggers:
        for old in list(lg.handlers):
            lg.removeHandler(old)
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, handlers, propagate in saved:
            lg.removeHandler(handler)
            for old in handlers:
                lg.addHandler(old)
            lg.propagate = propagate


def transcribe_on_ray(
    files: Sequence[Path],
    *,
    address: str,
    model: str,
    response_format: str,
    options: Mapping[str, Any],
    deliver: Callable[[BatchResult[Any]], None],
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    max_in_flight: int | None = None,
    rpm: int | None = None,
    split: bool = False,
    say: Callable[[str], None] | None = None,
) -> list[BatchResult[Any]]:
    """Transcribe ``files`` on the Ray cluster at ``address`` (``""``: a new local one).

    ``options`` are ``transcribe``'s keyword arguments (``max_retries``, ``timeout`` and
    ``deadline`` included). ``deliver`` is called in this thread as each file finishes. At most
    ``max_in_flight`` (default ``concurrency``) requests run at once across the cluster, and at
    most ``rpm`` start per minute. Workers read the files by path, so on a cluster of several
    machines the paths must be on storage every node sees. Raises
    :class:`~transcribe_sdk.InvalidInputError` for a bad option before anything is sent
    (``split=True`` among them: long files are not split on the cluster), and for a cluster
    that cannot be reached. ``say`` prints a line above the progress line: Ray's own warnings
    go there.
    """
    if split:
        raise InvalidInputError("--split", "does not combine with --ray")
    joined = _joined(address)
    if joined.startswith("ray://"):  # auto takes RAY_ADDRESS, as Ray does
        named = address if joined == address else f"RAY_ADDRESS={joined}"
        raise InvalidInputError("--ray", THROUGH_CLIENT.format(address=named))
    with _sending_token(address) as sent:
        try:
            import ray
        except ImportError:
            raise InvalidInputError("--ray", f"needs Ray on this machine: {INSTALL_RAY}") from None
        from ..ray._dataset import IO_CPUS, cluster_cpus, default_concurrency, transcribe_dataset
        from ..ray._limit import RateLimit

        if not files:
            return []
        cap = max_in_flight or concurrency
        # the engine the client will use: --base-url / --local, else $TRANSCRIBE_BASE_URL, as
        # transcribe_dataset reads them (an actor of the local engine reserves a whole CPU)
        where = base_url if base_url is not None else os.environ.get(ENV_BASE_URL)
        local = where is not None and where.startswith("local")
        limit = (
            None if local and rpm is None else RateLimit(max_in_flight=cap, requests_per_minute=rpm)
        )
        with _ray_logs_to(say):
            started = _start(address, sent=sent)
            try:
                if local:
                    per_actor, actors = 1, concurrency
                else:  # as many actors as the cluster holds, up to one per request in flight
                    room = min(cap, default_concurrency(IO_CPUS, cluster_cpus()))
                    per_actor = min(PER_ACTOR, math.ceil(cap / room))
                    actors = min(room, math.ceil(cap / per_actor))
                return _run(
                    files,
                    transcribe_dataset,
                    model=model,
                    response_format=response_format,
                    options=options,
                    deliver=deliver,
                    base_url=base_url,
                    api_key=api_key,
                    limit=limit,
                    concurrency=(1, actors) if local else actors,
                    per_actor=per_actor,
                )
            finally:
                if started:
                    ray.shutdown()


def _run(
    files: Sequence[Path],
    transcribe_dataset: Callable[..., Any],
    *,
    model: str,
    response_format: str,
    options: Mapping[str, Any],
    deliver: Callable[[BatchResult[Any]], None],
    base_url: str | None,
    api_key: str | None,
    limit: Any,
    concurrency: int | tuple[int, int],
    per_actor: int,
) -> list[BatchResult[Any]]:
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False  # ours is drawn instead
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    index: dict[str, list[int]] = {}  # two inputs may be one file (a link)
    for i, path in enumerate(files):
        index.setdefault(str(path.resolve()), []).append(i)
    ds = ray.data.from_items([{"path": where} for where in index])
    out = transcribe_dataset(
        ds,
        model=model,
        response_format=response_format,
        base_url=base_url,
        api_key=api_key,
        rate_limit=limit,
        concurrency=concurrency,
        batch_size=per_actor,
        keep_response=True,
        **options,
    )
    results: list[BatchResult[Any] | None] = [None] * len(files)
    for batch in out.iter_batches(batch_format="pyarrow", batch_size=None):
        table: Any = batch  # a pyarrow.Table, as asked
        for row in table.to_pylist():
            for i in index[row["path"]]:
                if row["error"] is None:
                    result = _result(row["response"], response_format, row.get("route"))
                    item = BatchResult(i, files[i], result=result)
                else:
                    item = BatchResult(i, files[i], error=_failure(row["error"]))
                results[i] = item
                deliver(item)
    return [r for r in results if r is not None]


def transcribe_args_on_ray(
    files: Sequence[Path],
    args: argparse.Namespace,
    options: Mapping[str, Any],
    deliver: Callable[[BatchResult[Any]], None],
    say: Callable[[str], None] | None = None,
) -> list[BatchResult[Any]]:
    """:func:`transcribe_on_ray` with the command's parsed arguments (``args.ray``,
    ``args.model``, ``args.format``, ``args.retries``, ``args.timeout``, ``args.local``,
    ``args.base_url``, ``args.concurrency``, ``args.max_in_flight``, ``args.rpm``,
    ``args.split``) and its ``transcribe`` options."""
    from ._output import asked_format

    return transcribe_on_ray(
        files,
        address=args.ray,
        model=args.model,
        # verbose_json when the command makes the subtitles itself (--min-cue-duration)
        response_format=asked_format(args),
        options={**options, "max_retries": args.retries, "timeout": args.timeout},
        deliver=deliver,
        base_url="local" if args.local else args.base_url,
        api_key="" if getattr(args, "no_auth", False) else getattr(args, "api_key", None),
        concurrency=args.concurrency,
        max_in_flight=args.max_in_flight,
        rpm=args.rpm,
        split=args.split,
        say=say,
    )
