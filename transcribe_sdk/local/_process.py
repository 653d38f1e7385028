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

The two talk in pickled ``(job, kind, payload)`` tuples over the child's stdin and a pipe of
its own for the replies (:mod:`._link` starts the child and carries the bytes; ours at both
ends). A request's audio goes over in pieces of
:data:`CHUNK` bytes (a path goes as its name); its segments come back one per ``next``, so no
more than one segment waits in a pipe whatever the reader does, and a transcription nobody
reads stops after the segment it was decoding.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._engine import Engine, check_installed, shared_engine
from ._link import Link, can_start_child, disown, end, ended_words, start
from ._models import DEFAULT_MODEL, resolve_model
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


class _Job:
    """One call's side of the conversation: the replies for it, and the child it went to."""

    def __init__(self, number: int, link: Link) -> None:
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
        self._link: Link | None = None
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
            end(link)

    # -- the conversation ---------------------------------------------------------------------
    def _running_child(self) -> Link:
        link = self._link
        if link is not None:
            if link.usable():
                return link
            end(link)  # ended (its calls were told by the reader), or no longer heard
        link = self._link = start(self.default_model)
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
            raise EngineFailure(ended_words(job.link))

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
                raise EngineFailure(ended_words(job.link))
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

    def _read(self, link: Link) -> None:
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
        end(link, kill=link.owner == os.getpid())
        for job in orphans:
            job.replies.put(("gone", None))

    def _after_fork(self) -> None:
        """In a forked copy of this process: forget the parent's child and calls, unheard."""
        self._lock = threading.RLock()
        self._jobs = {}
        link, self._link = self._link, None
        if link is not None:
            disown(link)


def _for_child(name: str) -> str:
    """A model named as a folder, made absolute: the child may have started in another
    working directory than the one the caller's relative path means now."""
    from faster_whisper import available_models

    if name in available_models() or not Path(name).expanduser().is_dir():
        return name
    return str(Path(name).expanduser().resolve())


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
    model in this process where no child can be started (see :func:`~._link.can_start_child`)."""
    if can_start_child():
        return shared_process(default_model)
    return shared_engine(default_model)


def shared_process(default_model: str | None = None) -> EngineProcess:
    """One engine process per default model for the whole program, so each model is loaded
    once however many clients use it."""
    key = default_model or DEFAULT_MODEL
    with _SHARED_LOCK:
        engine = _SHARED.get(key)
        if engine is None:
            engine = _SHARED[key] = EngineProcess(key)
        return engine
