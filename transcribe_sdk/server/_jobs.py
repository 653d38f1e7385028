"""The transcriptions a server runs: worker threads that stop when asked, and their record.

A transcription runs in a worker thread (the model is blocking code). :func:`run_job` makes
a hang-up or a shutdown reach it: the task's cancellation sets the job's ``cancel`` event,
which the engine checks between segments, and the task waits until the thread has stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
POLL_SECONDS = 0.05
"""How often a cancelled task looks whether its thread has stopped."""


class Jobs:
    """The transcriptions under way, so that a shutdown can stop them and wait for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancels: set[threading.Event] = set()
        self.shutting_down = False

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

    def cancel_all(self) -> None:
        """Stop every transcription at its next segment, and any that starts from now on."""
        with self._lock:
            self.shutting_down = True
            for cancel in self._cancels:
                cancel.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every transcription to end."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        return not self.running


async def run_job(work: Callable[[threading.Event], T], cancel: threading.Event) -> T:
    """``work(cancel)`` in a worker thread. If this task is cancelled (the client hung up, the
    server is stopping), ``cancel`` is set and the task waits, shielded, until the thread has
    stopped (the engine checks it between segments), so no model work outlives its request."""
    done = threading.Event()
    lock = threading.Lock()
    phase = ["queued"]  # then "running", or "dropped" when cancelled before a thread took it

    def tracked() -> T | None:
        with lock:
            if phase[0] == "dropped":
                return None
            phase[0] = "running"
        try:
            return work(cancel)
        finally:
            done.set()

    try:
        result = await anyio.to_thread.run_sync(tracked, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cancel.set()
        with lock:
            if phase[0] == "queued":  # anyio does not start a job whose task is cancelled
                phase[0] = "dropped"
                done.set()
        with anyio.CancelScope(shield=True):
            while not done.is_set():
                await anyio.sleep(POLL_SECONDS)
        raise
    return result  # type: ignore[return-value]
