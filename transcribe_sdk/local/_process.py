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

from ._engine import (
    DEFAULT_MODEL,
    AudioDecodeError,
    AudioTooLong,
    Cancelled,
    Engine,
    EngineFailure,
    ModelLoadError,
    Transcript,
    WrongLanguageError,
    check_installed,
    resolve_model,
    shared_engine,
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
_CHILD = (
    f"import sys; sys.path.append({_HOME!r}); from transcribe_sdk.local._child import main; main()"
)
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

    def __init__(self, number: int, child: subprocess.Popen[bytes]) -> None:
        self.number = number
        self.child = child
        self.replies: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()


class EngineProcess:
    """A :class:`~._engine.WhisperEngine` running in a child process, with the same calls
    (``default_model``, ``resolve``, ``check_model``, ``start``) and the same errors.

    Thread-safe. The child starts on first use and again after it ended (a crash, an
    out-of-memory kill, :meth:`close`); a forked process starts its own.
    """

    def __init__(self, default_model: str | None = None) -> None:
        check_installed()
        self.default_model: str = default_model or DEFAULT_MODEL
        """The model a request gets when it names none (or names a hosted model)."""
        # Starting the child, writing to it, the job table. Reentrant: a transcript dropped
        # unread is forgotten by a finalizer, which the garbage collector may run anywhere.
        self._lock = threading.RLock()
        self._child: subprocess.Popen[bytes] | None = None
        self._owner = 0
        self._jobs: dict[int, _Job] = {}
        self._numbers = 0
        _EVERY.add(self)

    @property
    def pid(self) -> int | None:
        """The engine process's id while it runs (``None`` before the first call)."""
        child = self._child
        if child is None or child.poll() is not None or self._owner != os.getpid():
            return None
        return child.pid

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
            child, self._child = self._child, None
        if child is not None:
            _end(child)

    # -- the conversation ---------------------------------------------------------------------
    def _running_child(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None:
            if child.poll() is None and self._owner == os.getpid():
                return child
            # Ended (its calls were told by the reader), or a forked copy's: ours to tidy only.
            _end(child, kill=self._owner == os.getpid())
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, self.default_model],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # the terminal's Ctrl+C is ours to act on, not the child's
        )
        self._child, self._owner = child, os.getpid()
        reader = threading.Thread(
            target=self._read, args=(child,), name="transcribe-sdk-engine", daemon=True
        )
        reader.start()
        return child

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
            with contextlib.suppress(EngineFailure):  # the child is gone, and the job with it
                self._send(job, "cancel", None)

    def _send(self, job: _Job, kind: str, payload: Any) -> None:
        data = pickle.dumps((job.number, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            pipe = job.child.stdin
            try:
                if pipe is None:
                    raise BrokenPipeError
                pipe.write(data)
                pipe.flush()
            except (OSError, ValueError):  # a closed pipe: the child ended
                raise EngineFailure(_ended(job.child)) from None

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
                raise EngineFailure(_ended(job.child))
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

    def _read(self, child: subprocess.Popen[bytes]) -> None:
        """The replies of one child, handed to the calls they are for, until it ends."""
        pipe = child.stdout
        assert pipe is not None
        try:
            while True:
                number, kind, payload = pickle.load(pipe)
                with self._lock:
                    job = self._jobs.get(number)
                if job is not None:
                    job.replies.put((kind, payload))
        except Exception:  # EOFError: the child ended (or its pipe broke): nothing more comes
            pass
        with self._lock:
            orphans = [job for job in self._jobs.values() if job.child is child]
        for job in orphans:
            job.replies.put(("gone", None))


def _for_child(name: str) -> str:
    """A model named as a folder, made absolute: the child may have started in another
    working directory than the one the caller's relative path means now."""
    from faster_whisper import available_models

    if name in available_models() or not Path(name).expanduser().is_dir():
        return name
    return str(Path(name).expanduser().resolve())


def _ended(child: subprocess.Popen[bytes]) -> str:
    code = child.poll()
    how = "is ending" if code is None else f"ended (exit code {code})"
    return (
        f"the local engine's process {how} while this transcription was under way (closed, "
        "out of memory, or killed); send the file again"
    )


def _end(child: subprocess.Popen[bytes], kill: bool = True) -> None:
    if kill:
        child.kill()  # the model may be mid-window: nothing of it is worth waiting for
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if kill:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


_EVERY: weakref.WeakSet[EngineProcess] = weakref.WeakSet()
_SHARED: dict[str, EngineProcess] = {}
_SHARED_LOCK = threading.Lock()


@atexit.register
def _end_every_child() -> None:
    for engine in list(_EVERY):
        engine.close()


def client_engine(default_model: str | None = None) -> Engine:
    """The engine behind ``Client(base_url="local")``: the shared engine process, or the
    model in this process where no child can be started (an embedded Python may have no
    ``sys.executable`` to run)."""
    if sys.executable and os.access(sys.executable, os.X_OK):
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
