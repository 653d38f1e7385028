"""The local engine in a process of its own, for the clients of this one (``base_url="local"``).

Why a process: CTranslate2 cannot be stopped in the middle of the 30-second window it is
decoding, and a thread still inside it when the interpreter ends aborts the whole program
("terminate called without an active exception"); waiting for the window costs seconds on a
busy machine. With the model in a child process, Ctrl+C (or a client's close, or the
program's end) stops the work by ending that process: nothing in this one waits for the model.

The child (:mod:`._child`) is this interpreter (``sys.executable``) in a session of its own,
so the terminal's Ctrl+C reaches only this process, which then ends the child; a child whose
parent is gone sees its input end and exits. It loads each model once and serves every
request of this process, several at a time, as the in-process engine does.

The two talk in pickled ``(job, kind, payload)`` tuples over the child's stdin and stdout
(ours at both ends; nothing else writes there). A request's audio goes over in pieces of
:data:`CHUNK` bytes (a path goes as its name); its segments come back one per ``next``, so no
more than one segment waits in a pipe whatever the reader does, and a transcription nobody
reads stops after the segment it was decoding.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._engine import DEFAULT_MODEL, Engine, check_installed, resolve_model, shared_engine
from ._results import (
    AudioDecodeError,
    AudioTooLong,
    Cancelled,
    EngineFailure,
    ModelLoadError,
    Transcript,
    WrongLanguageError,
)

if TYPE_CHECKING:
    from ._options import Options

__all__ = ["CHUNK", "EngineFailure", "EngineProcess", "client_engine", "shared_process"]

CHUNK = 1 << 20
"""Bytes of audio per message to the child: the most either side holds of an upload in flight
(the child spools what it receives, to disk past a megabyte)."""
_POLL = 0.05
"""Seconds between looks at a call's cancel event while it waits for the child."""
# The child finds this very package even where it is not installed (a path put on sys.path).
_HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_READY = "ready"
"""The child's first reply (job 0): it imported the engine and listens."""
_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (AudioTooLong, AudioDecodeError, WrongLanguageError, ModelLoadError, Cancelled)
}


def _raise(payload: tuple[str, str]) -> None:
    name, message = payload
    known = _ERRORS.get(name)
    if known is not None:
        raise known(message)
    raise EngineFailure(f"{name}: {message}")


class _Link:
    """One engine process and the two pipes to it: requests on its stdin, replies on a pipe of
    their own (so nothing the child's start-up prints can reach them).

    Requests are written by a thread of the link's own (:meth:`send` hands them over). A
    signal handler that raises (Ctrl+C's ``KeyboardInterrupt``) runs in the main thread, and
    a buffered write it interrupts stops part way: half a message in the pipe would garble
    every message after it, other calls' included. The writer thread is never interrupted."""

    def __init__(self, process: subprocess.Popen[bytes], replies: IO[bytes]) -> None:
        self.process = process
        self.requests = process.stdin
        self.replies = replies
        self.owner = os.getpid()
        self.ready = False
        """Set by the reader at the child's first reply: it started and imported the engine."""
        self.reading = True
        """Cleared (under the engine's lock) when its replies end: no job may go to it then."""
        self.broken = False
        """Set when a request could not be written: the child is gone (or going)."""
        self._outbox: queue.SimpleQueue[tuple[bytes, threading.Event] | None] = queue.SimpleQueue()
        self._gate = threading.Lock()  # the writer's end, against a message queued after it
        self._stopped = False
        threading.Thread(target=self._write, name="transcribe-sdk-engine-in", daemon=True).start()

    def usable(self) -> bool:
        return self.reading and self.owner == os.getpid() and self.process.poll() is None

    def send(self, data: bytes, wait: bool = True) -> bool:
        """Have ``data`` written whole; with ``wait``, block until it is and say whether it
        was (a caller interrupted meanwhile leaves it to be written all the same). At most
        one message per calling thread waits here: what a peer can queue is bounded by
        :data:`CHUNK` a call."""
        written = threading.Event()
        with self._gate:
            if self._stopped or self.broken:
                return False
            self._outbox.put((data, written))
        if wait:
            written.wait()
        return not self.broken

    def stop(self) -> None:
        """End the writer once what is queued has been tried."""
        self._outbox.put(None)

    def _write(self) -> None:
        pipe = self.requests
        while (item := self._outbox.get()) is not None:
            data, written = item
            if not self.broken:
                try:
                    if pipe is None:
                        raise BrokenPipeError
                    pipe.write(data)
                    pipe.flush()
                except (OSError, ValueError):  # a closed pipe: the child ended
                    self.broken = True
            written.set()
        with self._gate:
            self._stopped = True
        while True:  # anything queued behind the end: nobody writes it now
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set()


class _Job:
    """One call's side of the conversation: the replies for it, and the child it went to."""

    def __init__(self, number: int, link: _Link) -> None:
        self.number = number
        self.link = link
        self.replies: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()


class EngineProcess:
    """A :class:`~._engine.WhisperEngine` running in a child process, with the same calls
    (``default_model``, ``resolve``, ``check_model``, ``start``) and the same errors.

    Thread-safe. The child starts on first use and again after it ended (a crash, an
    out-of-memory kill, :meth:`close`); a forked process starts its own, and never touches
    the child of the process it was forked from.
    """

    def __init__(self, default_model: str | None = None) -> None:
        check_installed()
        self.default_model: str = default_model or DEFAULT_MODEL
        """The model a request gets when it names none (or names a hosted model)."""
        # Starting the child, and the job table (the link writes). Reentrant: a transcript dropped
        # unread is forgotten by a finalizer, which the garbage collector may run anywhere.
        self._lock = threading.RLock()
        self._link: _Link | None = None
        self._jobs: dict[int, _Job] = {}
        self._numbers = 0
        _EVERY.add(self)

    @property
    def pid(self) -> int | None:
        """The engine process's id while it runs (``None`` before the first call)."""
        link = self._link
        if link is None or not link.usable():
            return None
        return link.process.pid

    def resolve(self, requested: str | None) -> str:
        """The model a request's ``model`` field selects (as :meth:`WhisperEngine.resolve`)."""
        return resolve_model(requested, self.default_model)

    def check_model(self, name: str) -> bool:
        """Load ``name`` in the child (raising :class:`~._engine.ModelLoadError` when it
        cannot) and say whether it is multilingual."""
        job = self._open()
        try:
            self._send(job, "load", _for_child(name))
            return bool(self._reply(job, threading.Event())[1])
        finally:
            self._forget(job.number, cancel=False)

    def start(
        self,
        audio: bytes | str | os.PathLike[str] | IO[bytes],
        model_name: str,
        options: Options,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Send ``audio`` to the child and wait until it has decoded and gated it; the
        segments come from the returned transcript as the child decodes them, one per ask.
        Setting ``cancel`` stops the call at once (and the child after its current segment)."""
        cancel = cancel or threading.Event()
        job = self._open()
        try:
            self._send(job, "start", (_for_child(model_name), options))
            self._upload(job, audio, cancel)
            language, duration = self._reply(job, cancel)[1]
        except BaseException:
            self._forget(job.number, cancel=True)
            raise
        segments = self._segments(job, cancel)
        # A transcript dropped unread must not keep its audio in the child.
        weakref.finalize(segments, self._forget, job.number, True).atexit = False
        return Transcript(language, duration, segments, cancel)

    def close(self) -> None:
        """End the child now (a model mid-window included); calls under way fail with
        :class:`EngineFailure`, and the next call starts a new child."""
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            _end(link)

    # -- the conversation ---------------------------------------------------------------------
    def _running_child(self) -> _Link:
        link = self._link
        if link is not None:
            if link.usable():
                return link
            _end(link)  # ended (its calls were told by the reader), or no longer heard
        replies, writer = os.pipe()
        try:
            process = subprocess.Popen(
                _command(writer, self.default_model),
                stdin=subprocess.PIPE,
                pass_fds=(writer,),
                start_new_session=True,  # the terminal's Ctrl+C is ours to act on, not the child's
            )
        except BaseException:
            os.close(replies)
            raise
        finally:
            os.close(writer)
        link = self._link = _Link(process, os.fdopen(replies, "rb"))
        reader = threading.Thread(
            target=self._read, args=(link,), name="transcribe-sdk-engine", daemon=True
        )
        reader.start()
        return link

    def _open(self) -> _Job:
        with self._lock:
            self._numbers += 1
            job = _Job(self._numbers, self._running_child())
            self._jobs[job.number] = job
            return job

    def _forget(self, number: int, cancel: bool) -> None:
        with self._lock:
            job = self._jobs.pop(number, None)
        if job is not None and cancel:
            # Not waited for: a finalizer may run this in any thread, the writer's included.
            self._send(job, "cancel", None, wait=False)

    def _send(self, job: _Job, kind: str, payload: Any, wait: bool = True) -> None:
        data = pickle.dumps((job.number, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        if not (job.link.reading and job.link.send(data, wait)) and wait:
            raise EngineFailure(_ended(job.link))

    def _upload(self, job: _Job, audio: Any, cancel: threading.Event) -> None:
        if isinstance(audio, (str, os.PathLike)):
            self._send(job, "path", os.path.abspath(audio))
        elif isinstance(audio, (bytes, bytearray)):
            for start in range(0, len(audio), CHUNK):
                self._send(job, "data", bytes(audio[start : start + CHUNK]))
        else:
            while chunk := audio.read(CHUNK):
                if cancel.is_set():
                    raise Cancelled("the transcription was cancelled")
                self._send(job, "data", chunk)
        self._send(job, "eof", None)

    def _reply(self, job: _Job, cancel: threading.Event) -> tuple[str, Any]:
        while True:
            if cancel.is_set():
                raise Cancelled("the transcription was cancelled")
            try:
                kind, payload = job.replies.get(timeout=_POLL)
            except queue.Empty:
                continue
            if kind == "error":
                _raise(payload)
            if kind == "gone":
                raise EngineFailure(_ended(job.link))
            return kind, payload

    def _segments(self, job: _Job, cancel: threading.Event) -> Iterator[dict[str, Any]]:
        done = False
        try:
            while True:
                self._send(job, "next", None)
                kind, payload = self._reply(job, cancel)
                if kind == "end":
                    done = True
                    return
                yield payload
        finally:
            self._forget(job.number, cancel=not done)

    def _read(self, link: _Link) -> None:
        """The replies of one child, handed to the calls they are for, until they end."""
        try:
            while True:
                number, kind, payload = pickle.load(link.replies)
                if kind == _READY:
                    link.ready = True
                    continue
                with self._lock:
                    job = self._jobs.get(number)
                if job is not None:
                    job.replies.put((kind, payload))
        except Exception:  # EOFError: the child ended; anything else: its replies are unreadable
            pass
        with self._lock:
            link.reading = False  # no job goes to it from now on: none would hear back
            orphans = [job for job in self._jobs.values() if job.link is link]
        # A child still running whose replies cannot be read is of no use to anyone.
        _end(link, kill=link.owner == os.getpid())
        for job in orphans:
            job.replies.put(("gone", None))

    def _after_fork(self) -> None:
        """In a forked copy of this process: forget the parent's child and calls, unheard."""
        self._lock = threading.RLock()
        self._jobs = {}
        link, self._link = self._link, None
        if link is not None:
            _disown(link)


def _command(replies: int, default_model: str) -> list[str]:
    """How the child is started: this interpreter, with the flags and module path it runs
    with (an isolated ``python -I`` program gets an isolated child), replies on ``replies``."""
    flags = sys.flags
    options = [
        flag
        for flag, on in (
            ("-I", flags.isolated),
            ("-E", flags.ignore_environment and not flags.isolated),
            ("-s", flags.no_user_site and not flags.isolated),
            ("-S", flags.no_site),
        )
        if on
    ]
    paths = [os.path.abspath(path) for path in sys.path if path] + [_HOME]
    program = (
        f"import sys; sys.path.extend(p for p in {paths!r} if p not in sys.path); "
        "from transcribe_sdk.local._child import main; main()"
    )
    return [sys.executable, *options, "-c", program, default_model, str(replies)]


def _for_child(name: str) -> str:
    """A model named as a folder, made absolute: the child may have started in another
    working directory than the one the caller's relative path means now."""
    from faster_whisper import available_models

    if name in available_models() or not Path(name).expanduser().is_dir():
        return name
    return str(Path(name).expanduser().resolve())


def _ended(link: _Link) -> str:
    code = link.process.poll()
    if not link.ready and code is not None:
        return (
            f"the local engine's process could not start (exit code {code}; its error is on "
            f"this program's stderr): {sys.executable!r} could not import transcribe_sdk's "
            "local engine"
        )
    how = "is ending" if code is None else f"ended (exit code {code})"
    return (
        f"the local engine's process {how} while this transcription was under way (closed, "
        "out of memory, or killed); send the file again"
    )


def _end(link: _Link, kill: bool = True) -> None:
    if link.owner != os.getpid():  # a forked copy's: the child is its parent's
        _disown(link)
        return
    if kill:
        link.process.kill()  # the model may be mid-window: nothing of it is worth waiting for
    link.stop()
    for pipe in (link.requests, link.replies):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if kill:
        with contextlib.suppress(subprocess.TimeoutExpired):
            link.process.wait(timeout=5)


def _disown(link: _Link) -> None:
    """Let go of a link inherited through ``fork()``: its pipes are pointed at /dev/null (not
    closed: a half-written buffer flushed on close would reach the parent's child), and the
    child is neither signalled nor waited for."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for pipe in (link.requests, link.replies):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(null, pipe.fileno())
    finally:
        os.close(null)
    link.reading = False
    link.broken = True  # its writer thread stayed in the parent


_EVERY: weakref.WeakSet[EngineProcess] = weakref.WeakSet()
_SHARED: dict[str, EngineProcess] = {}
_SHARED_LOCK = threading.Lock()


@atexit.register
def _end_every_child() -> None:
    for engine in list(_EVERY):
        engine.close()


def _forget_after_fork() -> None:
    _SHARED_LOCK.release()
    for engine in list(_EVERY):
        engine._after_fork()


if hasattr(os, "register_at_fork"):
    # The table's lock is held across a fork, so the copy never inherits it held by a thread
    # it does not have.
    os.register_at_fork(
        before=_SHARED_LOCK.acquire,
        after_in_parent=_SHARED_LOCK.release,
        after_in_child=_forget_after_fork,
    )


def client_engine(default_model: str | None = None) -> Engine:
    """The engine behind ``Client(base_url="local")``: the shared engine process, or the
    model in this process where no child can be started (see :func:`can_start_child`)."""
    if can_start_child():
        return shared_process(default_model)
    return shared_engine(default_model)


def can_start_child() -> bool:
    """Whether ``sys.executable`` is a Python interpreter this process can run the engine in.

    Not in a frozen application (PyInstaller, cx_Freeze: ``sys.executable`` is the application
    itself, which would start another copy of it), nor where the executable is not named as a
    Python interpreter (an embedding program such as uWSGI sets it to its own binary, and an
    embedded Python may leave it empty), nor off POSIX (the replies travel on an inherited
    descriptor)."""
    executable = sys.executable
    if getattr(sys, "frozen", False) or os.name != "posix" or not executable:
        return False
    if not os.path.basename(executable).lower().startswith(("python", "pypy")):
        return False
    return os.access(executable, os.X_OK)


def shared_process(default_model: str | None = None) -> EngineProcess:
    """One engine process per default model for the whole program, so each model is loaded
    once however many clients use it."""
    key = default_model or DEFAULT_MODEL
    with _SHARED_LOCK:
        engine = _SHARED.get(key)
        if engine is None:
            engine = _SHARED[key] = EngineProcess(key)
        return engine
