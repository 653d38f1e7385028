"""The engine's own process, started by :class:`~._process.EngineProcess` (never by hand) as
this interpreter running :func:`main` with two arguments: the default model's name, and the
descriptor of the pipe its replies go to.

It reads requests from stdin and writes replies to that pipe of their own, first a ``ready``
once the engine is imported; its stdout points at stderr, so a library that prints (at start-up
included) cannot corrupt them, and its words reach the terminal as warnings do. Each
transcription runs on a thread of its own with the one shared
:class:`~._engine.WhisperEngine`; it decodes a segment when the parent asks for the next one.
When its input ends (the parent closed it, or died) the process ends at once, whatever the
model is doing.
"""

from __future__ import annotations

import os
import pickle
import queue
import sys
import tempfile
import threading
from typing import IO, Any

from ._engine import WhisperEngine
from ._forms import SPOOL_MEMORY_BYTES

_NEXT = "next"
_CANCEL = "cancel"


class _Request:
    """One transcription: its audio as it arrives, then its thread."""

    def __init__(self, model_name: str, options: Any) -> None:
        self.model_name = model_name
        self.options = options
        self.audio: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self.path: str | None = None
        self.asks: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.cancel = threading.Event()
        self.running = False


class _Child:
    def __init__(self, default_model: str, replies: IO[bytes]) -> None:
        self.engine = WhisperEngine(default_model)
        self.replies = replies
        self.write = threading.Lock()
        self.requests: dict[int, _Request] = {}

    def send(self, number: int, kind: str, payload: Any) -> None:
        data = pickle.dumps((number, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        with self.write:
            try:
                self.replies.write(data)
                self.replies.flush()
            except OSError:  # the parent is gone: so is the reason to go on
                os._exit(0)

    def fail(self, number: int, exc: BaseException) -> None:
        try:
            words = str(exc)
        except Exception:  # an exception whose message cannot be made still ends its request
            words = "(its message could not be read)"
        self.send(number, "error", (type(exc).__name__, words))

    def handle(self, number: int, kind: str, payload: Any) -> None:
        """One message from the parent (read by the one reading thread, so never blocking)."""
        if kind == "start":
            self.requests[number] = _Request(*payload)
            return
        if kind == "load":
            threading.Thread(target=self.load, args=(number, payload), daemon=True).start()
            return
        request = self.requests.get(number)
        if request is None:
            return  # a request already over (cancelled, failed): its last words cross ours
        if kind == "data":
            request.audio.write(payload)
        elif kind == "path":
            request.path = payload
        elif kind == "eof":
            request.running = True
            threading.Thread(target=self.run, args=(number, request), daemon=True).start()
        elif kind == _NEXT:
            request.asks.put(_NEXT)
        elif kind == _CANCEL:
            request.cancel.set()
            request.asks.put(_CANCEL)
            if not request.running:  # cancelled while its audio came: no thread to end it
                request.audio.close()
                del self.requests[number]

    def load(self, number: int, name: str) -> None:
        try:
            self.send(number, "loaded", self.engine.check_model(name))
        except BaseException as exc:  # SystemExit from a library too: the caller waits for it
            self.fail(number, exc)

    def run(self, number: int, request: _Request) -> None:
        try:
            request.audio.seek(0)
            source: Any = request.path if request.path is not None else request.audio
            transcript = self.engine.start(
                source, request.model_name, request.options, request.cancel
            )
            self.send(number, "started", (transcript.language, transcript.duration))
            segments = iter(transcript)
            try:
                while request.asks.get() == _NEXT:
                    segment = next(segments, None)
                    if segment is None:
                        self.send(number, "end", None)
                        return
                    self.send(number, "segment", segment)
            finally:
                close = getattr(segments, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # Cancelled included (the parent has stopped listening);
            self.fail(number, exc)  # SystemExit from a library too: the caller waits for it
        finally:
            request.audio.close()
            self.requests.pop(number, None)


def main() -> None:
    """Serve the parent until it closes our input."""
    os.dup2(2, 1)  # print() in a library goes where warnings go
    replies = os.fdopen(int(sys.argv[2]), "wb")
    child = _Child(sys.argv[1], replies)
    child.send(0, "ready", None)
    requests = sys.stdin.buffer
    while True:
        try:
            number, kind, payload = pickle.load(requests)
        except Exception:  # EOFError: the parent closed our input, or is gone
            os._exit(0)  # CTranslate2 may be mid-window: no interpreter teardown around it
        child.handle(number, kind, payload)
