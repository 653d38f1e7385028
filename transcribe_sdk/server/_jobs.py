"""The transcriptions a server runs: worker threads that stop when asked, and their record.

A transcription runs in a worker thread (the model is blocking code). :meth:`Jobs.run` makes
a hang-up or a shutdown reach it: the task's cancellation sets the job's ``cancel`` event,
which the engine checks between segments, and the task waits until the thread has stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
POLL_SECONDS = 0.05
"""How often a cancelled task looks whether its thread has stopped."""


class Abandoned(Exception):
    """The server stopped waiting for this transcription (a second Ctrl+C): answer now, while
    its thread stops at the model's next segment."""


class Jobs:
    """The transcriptions under way, so that a shutdown can stop them and wait for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancels: set[threading.Event] = set()
        self._threads = 0
        self.shutting_down = False
        self.abandoned = False
        """Set by :meth:`abandon_all`: requests answer without waiting for their threads."""

    def add(self, cancel: threading.Event) -> None:
        with self._lock:
            if self.shutting_down:
                cancel.set()
            self._cancels.add(cancel)

    def discard(self, cancel: threading.Event) -> None:
        with self._lock:
            self._cancels.discard(cancel)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._cancels)

    @property
    def threads(self) -> int:
        """Worker threads still running model work (an abandoned one until its next segment)."""
        with self._lock:
            return self._threads

    def cancel_all(self) -> None:
        """Stop every transcription at its next segment, and any that starts from now on."""
        with self._lock:
            self.shutting_down = True
            for cancel in self._cancels:
                cancel.set()

    def abandon_all(self) -> None:
        """:meth:`cancel_all`, and answer every request now (a 503) instead of when its thread
        reaches the model's next segment."""
        self.cancel_all()
        self.abandoned = True

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every transcription to end."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        return not self.running

    def wait_threads(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every worker thread to leave the model."""
        deadline = time.monotonic() + timeout
        while self.threads and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        return not self.threads

    async def run(self, work: Callable[[threading.Event], T], cancel: threading.Event) -> T:
        """``work(cancel)`` in a worker thread. If this task is cancelled (the client hung up,
        the server is stopping), ``cancel`` is set and the task waits, shielded, until the
        thread has stopped (the engine checks it between segments), so no model work outlives
        its request. Once :meth:`abandon_all` is called, raises :class:`Abandoned` without
        that wait (the process then waits for the threads, briefly, before it exits)."""
        done = threading.Event()
        lock = threading.Lock()
        phase = ["queued"]  # then "running", or "dropped" when cancelled before a thread took it
        outcome: list[tuple[bool, Any]] = []

        def tracked() -> T | None:
            with lock:
                if phase[0] == "dropped":
                    return None
                phase[0] = "running"
            with self._lock:
                self._threads += 1
            try:
                return work(cancel)
            finally:
                with self._lock:
                    self._threads -= 1
                done.set()

        def drop() -> None:
            cancel.set()
            with lock:
                if phase[0] == "queued":  # anyio does not start a job whose task is cancelled
                    phase[0] = "dropped"
                    done.set()

        try:
            async with anyio.create_task_group() as group:

                async def in_thread() -> None:
                    try:
                        value = await anyio.to_thread.run_sync(tracked, abandon_on_cancel=True)
                        outcome.append((True, value))
                    except Exception as exc:  # raised here, not as an ExceptionGroup
                        outcome.append((False, exc))
                    group.cancel_scope.cancel()

                group.start_soon(in_thread)
                # Polled, not signalled: abandon_all runs from a signal handler's thread.
                while not self.abandoned:
                    await anyio.sleep(POLL_SECONDS)
                group.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            drop()
            with anyio.CancelScope(shield=True):
                while not done.is_set() and not self.abandoned:
                    await anyio.sleep(POLL_SECONDS)
            raise
        if not outcome:  # abandoned before the thread finished
            drop()
            raise Abandoned("the server is stopping")
        succeeded, value = outcome[0]
        if not succeeded:
            raise value
        return value  # type: ignore[no-any-return]
