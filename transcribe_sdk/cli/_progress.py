"""The ``transcribe`` command's progress on stderr.

On a terminal: one line redrawn in place by tqdm (imported only then), showing the file being
transcribed (and how many more are in flight), files done of the total, the elapsed time
(ticking even while one long file is in flight), failures, and with ``--split`` the pieces of
the current file done so far. With ``--local`` the bar also moves within a file, by the audio
decoded so far (the engine reports each segment's end), and the line shows it. Elsewhere (a
pipe, a log file): one plain line per finished file or piece, with the elapsed time, and with
``--local`` a line at each quarter of a long file's decoding. With ``--quiet``: failures only.
Every name and message is printed escaped (:func:`~transcribe_sdk.cli._output.printable`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ._output import printable

TICK_SECONDS = 1.0
"""How often the terminal line is redrawn while nothing finishes (the elapsed time moves)."""
LINE_ROOM = 62
"""Columns of the terminal line kept for all but the file's name (bar, counts, time, pieces);
a name longer than the rest of the width keeps its end."""
PLAIN_DECODED_FROM = 120.0
"""Off a terminal, audio at least this long gets a line at each quarter of its decoding
(shorter files end soon after they start: their "done" line is enough)."""
IN_FLIGHT_CAP = 0.99
"""The most of a file the bar shows before the file's answer is in (it may still fail, and
100 % is for files done)."""


def _bar_class() -> Any:
    from tqdm import tqdm

    class FilesBar(tqdm):  # type: ignore[misc]
        """tqdm's bar, moved by fractions of files (audio decoded so far) while ``{files}``
        counts finished files (tqdm's documented way to add a field: ``format_dict``)."""

        files = 0

        @property
        def format_dict(self) -> dict[str, Any]:
            fields: dict[str, Any] = super().format_dict
            fields["files"] = self.files
            return fields

    return FilesBar


def clock(seconds: float) -> str:
    """``75.3`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a real terminal (a test's stream)
        return 0


def _short(name: str, room: int) -> str:
    shown = printable(name)
    return shown if len(shown) <= room else "…" + shown[-(room - 1) :]


class Progress:
    """Progress of one run over ``names`` (the files to transcribe, in the order they are
    started), ``concurrency`` at a time."""

    def __init__(
        self,
        names: Sequence[str],
        stream: TextIO,
        quiet: bool,
        *,
        concurrency: int = 1,
        tty: bool | None = None,
    ) -> None:
        self.names = list(names)
        self.total = len(self.names)
        self.stream, self.quiet, self.concurrency = stream, quiet, max(1, concurrency)
        self.tty = (stream.isatty() if tty is None else tty) and not quiet
        self.done = 0
        self.failed = 0
        self.finished: set[str] = set()
        self.pieces: tuple[str, int, float] | None = None  # file, pieces done, seconds done
        self.decoded: dict[str, tuple[float, float]] = {}  # file in flight: seconds, duration
        self._quarters: dict[str, int] = {}  # off a terminal: quarters of a file reported
        self.started = time.monotonic()
        self._lock = threading.RLock()  # pieces are reported from worker threads
        self._bar: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if self.tty and self.total:
            self._open_bar()

    # -- the terminal line ---------------------------------------------------------------------
    def _open_bar(self) -> None:
        desc, postfix = self._parts()
        sized = _width(self.stream) > 0
        self._bar = _bar_class()(
            total=self.total,
            desc=desc,
            postfix=postfix or None,
            file=self.stream,
            unit="file",
            leave=True,
            # Follows the terminal's size; one that reports none (a new pty: 0 x 0, where tqdm
            # would hide its line) is taken as 80 x 24.
            dynamic_ncols=sized,
            ncols=None if sized else 80,
            nrows=None if sized else 24,
            mininterval=0,
            bar_format="{desc}{percentage:3.0f}%|{bar}| {files}/{total_fmt} files "
            "[{elapsed}]{postfix}",
        )
        self._show()
        self._ticker = threading.Thread(target=self._tick, name="transcribe-progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()

    def in_flight(self) -> list[str]:
        """The files being transcribed now: inputs are started in order, ``concurrency`` at a
        time, each as soon as one finishes."""
        started = self.names[: min(self.total, self.done + self.concurrency)]
        return [name for name in started if name not in self.finished]

    def _show(self) -> None:
        desc, postfix = self._parts()
        self._bar.set_description_str(desc, refresh=False)
        self._bar.set_postfix_str(postfix, refresh=False)
        self._move()  # after the text, so that a draw never pairs new numbers with old text
        self._bar.refresh()

    def _parts(self) -> tuple[str, str]:
        """The terminal line's text before the bar (the file in flight) and after it."""
        current = self.in_flight()
        desc = ""
        if current:
            room = max(12, (_width(self.stream) or 80) - LINE_ROOM)
            desc = _short(current[0], room)
            desc += f" (+{len(current) - 1})" if len(current) > 1 else ""
            desc += ": "
        parts = [f"{self.failed} failed"] if self.failed else []
        if self.pieces is not None and current and self.pieces[0] == current[0]:
            _, count, seconds = self.pieces
            parts.append(f"{count} piece{'s' * (count != 1)}, {clock(seconds)} of audio")
        if current and current[0] in self.decoded:
            seconds, duration = self.decoded[current[0]]
            parts.append(f"{clock(seconds)} of {clock(duration)} decoded")
        return desc, ", ".join(parts)

    def _move(self) -> None:
        """Put the bar at the files done plus the decoded part of each file in flight."""
        moved = self.done + sum(
            min(IN_FLIGHT_CAP, seconds / duration) if duration > 0 else 0.0
            for seconds, duration in self.decoded.values()
        )
        self._bar.files = self.done
        self._bar.update(moved - self._bar.n)

    def _say(self, line: str) -> None:
        """A line of its own above the terminal line (or a plain line)."""
        if self._bar is not None:
            self._bar.clear()
            self.stream.write(line + "\n")
            self._bar.refresh()
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    # -- events --------------------------------------------------------------------------------
    def note(self, line: str) -> None:
        """A line of another's (Ray's log) above the terminal line, not through it."""
        with self._lock:
            self._say(line)

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s elapsed"

    def fail(self, name: str, message: str) -> None:
        """A line for a file that failed before or outside the batch (not counted in it)."""
        with self._lock:
            self._say(f"failed {printable(name)}: {message}")

    def piece(self, name: str, count: int, seconds: float) -> None:
        """With ``--split``: ``count`` pieces of ``name`` done, ``seconds`` of its audio."""
        with self._lock:
            self.pieces = (name, count, seconds)
            if self._bar is not None:
                self._show()
            elif not self.quiet:
                self._say(
                    f"  piece {count} of {printable(name)} done "
                    f"({clock(seconds)} of audio, {self.elapsed()})"
                )

    def decoding(self, sent_name: str, seconds: float, duration: float) -> None:
        """With ``--local``: the engine has decoded ``seconds`` of the ``duration`` of the file
        in flight that was sent as ``sent_name`` (its name's last part; ``stdin`` for ``-``).
        When two files in flight share that name, neither is moved: the bar stays right."""
        with self._lock:
            name = self._sent_as(sent_name)
            if name is None or self._stop.is_set():  # closed: a stopped run's stragglers
                return
            self.decoded[name] = (seconds, duration)
            if self._bar is not None:
                self._show()
            elif not self.quiet and duration >= PLAIN_DECODED_FROM:
                quarter = min(3, int(4 * seconds / duration)) if duration > 0 else 0
                if quarter > self._quarters.get(name, 0):
                    self._quarters[name] = quarter
                    self._say(
                        f"  {printable(name)}: {clock(seconds)} of {clock(duration)} decoded "
                        f"({self.elapsed()})"
                    )

    def _sent_as(self, sent_name: str) -> str | None:
        """The file in flight uploaded as ``sent_name``: the client sends a path's last part,
        with the sniffed extension added when the name has no known one."""
        exact: list[str] = []
        extended: list[str] = []
        for name in self.in_flight():
            base = "stdin" if name == "-" else Path(name).name
            if sent_name == base:
                exact.append(name)
            elif sent_name.startswith(base + "."):
                extended.append(name)
        found = exact or extended
        return found[0] if len(found) == 1 else None

    def update(self, name: str, problem: str | None) -> None:
        """``name`` finished: ``problem`` is why it failed, or ``None``."""
        with self._lock:
            self.done += 1
            self.failed += problem is not None
            self.finished.add(name)
            self.decoded.pop(name, None)
            self._quarters.pop(name, None)
            if problem is not None:
                self._say(f"failed {printable(name)}: {problem}")
            elif self._bar is None and not self.quiet:
                self._say(f"done {printable(name)} ({self.done}/{self.total}, {self.elapsed()})")
            if self._bar is not None:
                self._show()

    def close(self) -> None:
        """End the terminal line (also when the run was stopped before its end)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=TICK_SECONDS * 2)
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            self.stream.flush()
