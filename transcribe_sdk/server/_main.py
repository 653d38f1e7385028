"""``transcribe-sdk serve``: start-up checks, the uvicorn server, and a clean stop.

Everything that can fail at start-up (a flag, the key file, the model, the address) fails
before the server listens, as one line on stderr and exit code 2. SIGINT and SIGTERM let
in-flight requests finish for ``--shutdown-timeout`` seconds, then cancel them (they get a
503) and wait for the model to stop before the process exits with 0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ._args import KEY_ENV, STARTUP_ERROR, StartupError, build_parser, settings_from
from ._settings import ServerSettings

_SETTINGS_ENV = "TRANSCRIBE_SDK_SERVE_SETTINGS"  # hands the settings (never the key) to workers
LOCAL_INSTALL = "in a clone of transcribe-sdk, pip install -e '.[local]'"


FORCED_STOP = 0.5
"""After a second Ctrl+C, how long the model's threads get to reach their next segment (their
clients have had their 503 already) before the process ends without waiting for them."""
FORCED_STOP_LIMIT = 3.0
"""After a second Ctrl+C, the longest the process lives on, whatever still runs (a response a
client reads slowly): then it ends at once."""


class RedactAccessLog(logging.Filter):
    """Drops query strings from access-log lines and masks the key wherever it appears."""

    def filter(self, record: logging.LogRecord) -> bool:
        key = os.environ.get(KEY_ENV) or ""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (*args[:2], path, *args[3:])
        if key:
            record.msg = str(record.msg).replace(key, "***")
            if isinstance(record.args, tuple):
                record.args = tuple(
                    a.replace(key, "***") if isinstance(a, str) else a for a in record.args
                )
        return True


def log_config() -> dict[str, Any]:
    fmt = "%(asctime)s %(levelname)s %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactAccessLog"}},
        "formatters": {"plain": {"format": fmt}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
                "filters": ["redact"],
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or :class:`StartupError` saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        raise StartupError(f"cannot listen on {host!r}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


FD_MARGIN = 64
"""Descriptors beyond ``--max-connections`` the process needs: the listening socket, the model,
logs, spooled uploads of the running transcriptions."""


def allow_descriptors(settings: ServerSettings) -> None:
    """Raise the soft descriptor limit to what ``--max-connections`` needs, or say why not."""
    import resource

    wanted = settings.max_connections + settings.concurrency + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        raise StartupError(
            f"--max-connections {settings.max_connections} needs {wanted} file descriptors and "
            f"this process may open at most {hard} (ulimit -Hn); lower --max-connections"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def make_engine(settings: ServerSettings) -> Any:
    """The engine, with its model loaded (so a model that does not load stops start-up)."""
    try:
        from ..local._engine import LocalEngineUnavailable, WhisperEngine
        from ..local._results import ModelLoadError
    except ImportError as exc:
        raise StartupError(f"{exc}; {LOCAL_INSTALL}") from None
    try:
        engine = WhisperEngine(
            settings.model,
            num_workers=settings.concurrency,
            cpu_threads=settings.cpu_threads,
            max_audio_seconds=settings.max_audio_seconds,
            batch_size=settings.batch_size,
        )
        engine.model(engine.default_model)
    except (LocalEngineUnavailable, ModelLoadError, ValueError) as exc:
        raise StartupError(str(exc)) from None
    return engine


def build_app(settings: ServerSettings, engine: Any) -> Any:
    from ..local._app import LocalApp
    from ._app import create_app

    return create_app(LocalApp(engine, honour_model_field=False), settings)


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn imports it by name)."""
    fields = json.loads(os.environ[_SETTINGS_ENV])
    settings = ServerSettings(**fields, api_key=os.environ.get(KEY_ENV) or None)
    return build_app(settings, make_engine(settings))


STOP_AT_SEGMENT = 15.0
"""After the grace period, how long a cancelled transcription has to reach its next segment,
stop and send its 503 before uvicorn cancels the request itself (which answers a bare 500 and
logs a traceback). A segment takes about a second on an idle CPU, a batch of four windows
three to five, and several times that on a loaded one."""


def _uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's documented settings for ``settings`` (keyword arguments of ``uvicorn.Config``).

    ``http="h11"`` because ``h11_max_incomplete_event_size`` bounds h11 only (``"auto"`` would
    pick httptools where it is installed). uvicorn has no setting for the time a request head
    may take, so a connection that sends nothing, or its head a byte at a time, stays open:
    docs/server.md says to put a reverse proxy in front for untrusted clients.
    """
    return {
        "http": "h11",
        "lifespan": "on",
        "log_config": log_config(),
        "server_header": False,
        "headers": [("server", f"transcribe-sdk-local/{__version__}")],
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": max(1, math.ceil(settings.header_timeout)),
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_timeout + STOP_AT_SEGMENT)),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


def _banner(
    host: str, port: int, settings: ServerSettings, model: str, *, workers: int, threads: int
) -> str:
    shown = f"[{host}]" if ":" in host else host
    auth = "auth on (bearer key)" if settings.api_key else "auth OFF (anyone who can connect)"
    # 0: CTranslate2 chooses (its own default, or OMP_NUM_THREADS)
    each = f"{threads} thread(s)" if threads else "CTranslate2's default threads"
    return (
        f"transcribe-sdk serve: model {model} on http://{shown}:{port}/v1, {auth}, "
        f"{workers} worker(s) x {settings.concurrency}, {each} each (Ctrl+C to stop)"
    )


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise StartupError(f"serve needs uvicorn: {LOCAL_INSTALL}") from None
    settings = settings_from(args)
    if settings.api_key:
        os.environ[KEY_ENV] = settings.api_key  # for the log filter (and the workers)
    allow_descriptors(settings)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    engine = make_engine(settings)
    model = engine.default_model
    if args.workers > 1:
        engine.close()  # each worker loads its own; this one only proved that it loads
        public = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        del public["api_key"]
        os.environ[_SETTINGS_ENV] = json.dumps(public)
        print(
            _banner(host, port, settings, model, workers=args.workers, threads=engine.cpu_threads),
            flush=True,
        )
        # The socket bound (and listening) above is the one the workers share: connections
        # made since the banner wait in its queue.
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            fd=sock.fileno(),
            workers=args.workers,
            **_uvicorn_options(settings),
        )
        sock.close()
        return 0
    app = build_app(settings, engine)
    config = uvicorn.Config(app, **_uvicorn_options(settings))
    jobs = app.state.server.jobs
    server = _server_class()(config, jobs, settings.shutdown_timeout)
    # uvicorn re-raises the signal that stopped it once it has stopped: these let it return.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    print(_banner(host, port, settings, model, workers=1, threads=engine.cpu_threads), flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        if jobs.abandoned and not jobs.wait_threads(FORCED_STOP):
            # CTranslate2's threads must not run while the interpreter tears down (they abort
            # it): end the process without the teardown, as a second Ctrl+C asks.
            _exit_now(0)
        engine.close()  # every transcription has stopped: the model's threads go first
    return 0 if server.started else STARTUP_ERROR


def _exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _server_class() -> Any:
    import uvicorn

    class StoppingServer(uvicorn.Server):
        """On the first signal, in-flight transcriptions get the grace period, then are
        cancelled (and answered with a 503) while uvicorn still waits for them.

        A second Ctrl+C answers them with the 503 at once and ends the process within about
        :data:`FORCED_STOP` seconds. uvicorn's own "force exit" is not used: it drops the
        requests in flight (a traceback each, and a bare 500 to their clients)."""

        def __init__(self, config: Any, jobs: Any, grace: float) -> None:
            super().__init__(config)
            self._jobs = jobs
            self._grace = grace
            self._timer: threading.Timer | None = None
            self._forced = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self._timer is None:
                self._timer = threading.Timer(self._grace, self._jobs.cancel_all)
                self._timer.daemon = True
                self._timer.start()
                super().handle_exit(sig, frame)
            elif sig == signal.SIGINT and not self._forced:
                self._forced = True
                self._timer.cancel()
                # Not in the handler: the main thread may hold the locks this work takes.
                threading.Thread(target=self._force, name="serve-forced-stop", daemon=True).start()

        def _force(self) -> None:
            running = self._jobs.running
            self._jobs.abandon_all()
            what = f"{running} transcription(s) answered with a 503" if running else "stopping"
            print(f"transcribe-sdk serve: second Ctrl+C: {what}, exiting now", file=sys.stderr)
            time.sleep(FORCED_STOP_LIMIT)  # a daemon thread: the process normally ends before
            print("transcribe-sdk serve: still busy; exiting without waiting", file=sys.stderr)
            _exit_now(0)

    return StoppingServer


def main(argv: Sequence[str] | None = None) -> int:
    """The ``transcribe-sdk`` command."""
    args = build_parser().parse_args(argv)
    try:
        return serve(args)
    except StartupError as exc:
        print(f"transcribe-sdk serve: {exc}", file=sys.stderr)
        return STARTUP_ERROR
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
