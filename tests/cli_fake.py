"""The ``transcribe`` command run in-process against a FakeServer (a helper, not a test file).

``Fake.client`` replaces ``transcribe_sdk.cli._main.Client`` (monkeypatched by each test file's
``fake`` fixture), so every request the command sends is recorded by ``Fake.server``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from internals import cli_main as cli

from transcribe_sdk import Client
from transcribe_sdk.testing import FakeServer


class TTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@dataclass
class Fake:
    """The FakeServer behind ``run``, and what ``run`` built its client with."""

    server: FakeServer = field(default_factory=FakeServer)
    made: list[dict[str, Any]] = field(default_factory=list)
    http: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: Any) -> Client:
        self.made.append(kwargs)
        http = httpx.Client(transport=self.server)
        self.http.append(http)
        return Client(
            api_key="test-key",
            http_client=http,
            max_retries=kwargs.get("max_retries", 2),
            timeout=kwargs.get("timeout"),
        )

    def run(self, *argv: str | Path, tty: bool = False, tty_stdout: bool = False) -> Result:
        """Run the command; ``tty``: stderr is a terminal, ``tty_stdout``: stdout is one."""
        out: io.StringIO = TTY() if tty_stdout else io.StringIO()
        err: io.StringIO = TTY() if tty else io.StringIO()
        code = cli.run([str(a) for a in argv], stdout=out, stderr=err)
        return Result(code, out.getvalue(), err.getvalue())


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
