"""The engine's process and the pipes to it (a helper of :mod:`._process`): how it is started,
how bytes reach it whole, and how it is ended or, in a forked copy, let go of.

The child is this interpreter (``sys.executable``) with the flags and module path this program
runs with, in a session of its own (the terminal's Ctrl+C is the parent's to act on). Requests
go on its stdin; replies come on a pipe of their own, handed over with ``pass_fds``, so a
``sitecustomize`` or a library that prints at start-up cannot garble them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
from typing import IO

__all__ = ["Link", "can_start_child", "disown", "end", "ended_words", "start"]

# The child finds this very package even where it is not installed (a path put on sys.path).
_HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Link:
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


def start(default_model: str) -> Link:
    """Start an engine process whose default model is ``default_model``: its link."""
    replies, writer = os.pipe()
    try:
        process = subprocess.Popen(
            _command(writer, default_model),
            stdin=subprocess.PIPE,
            pass_fds=(writer,),
            start_new_session=True,  # the terminal's Ctrl+C is ours to act on, not the child's
        )
    except BaseException:
        os.close(replies)
        raise
    finally:
        os.close(writer)
    return Link(process, os.fdopen(replies, "rb"))


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


def ended_words(link: Link) -> str:
    code = link.process.poll()
    if code is None and not link.ready:
        # A child that never said it was ready and whose pipes closed is ending: its exit
        # status comes a moment after its pipes close, and tells a failed start from a kill.
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = link.process.wait(timeout=2)
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


def end(link: Link, kill: bool = True) -> None:
    if link.owner != os.getpid():  # a forked copy's: the child is its parent's
        disown(link)
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


def disown(link: Link) -> None:
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
