"""Bearer authentication, applied in this one place and never shown.

The key lives only on the :class:`BearerAuth` object that adds the ``Authorization`` header to
each outgoing request; its ``repr`` and ``str`` show a redacted form, and log lines elsewhere in
the package never include request headers.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import httpx

from ..errors import InvalidInputError

_SENDABLE = re.compile(r"[\x20-\x7e]+")
"""What a key may hold: visible ASCII and spaces, as an HTTP header value can carry."""


def redact(secret: str) -> str:
    """A form of the key safe to print: at most its last four characters."""
    return f"...{secret[-4:]}" if len(secret) >= 20 else "***"


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <key>`` to every request sent through it."""

    def __init__(self, api_key: str) -> None:
        if not isinstance(api_key, str):
            raise InvalidInputError("api_key", f"must be a str, not {type(api_key).__name__}")
        if api_key != api_key.strip() or any(c in api_key for c in "\r\n"):
            raise InvalidInputError("api_key", "has surrounding whitespace or a line break")
        if not _SENDABLE.fullmatch(api_key):
            # Never echo it: a message, traceback or log line must not carry any of the key.
            raise InvalidInputError(
                "api_key",
                "holds a character that cannot be sent in an HTTP header (a control character "
                "such as NUL, or a non-ASCII one); it is not shown here. Copy the key again.",
            )
        self._header = f"Bearer {api_key}"
        self._shown = redact(api_key)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"BearerAuth({self._shown})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("BearerAuth cannot be pickled, so the key never leaves the process")


class Secrets(tuple[str, ...]):
    """The strings no message may show (the key, a URL's password); never shown itself."""

    def __repr__(self) -> str:
        return f"Secrets({len(self)} hidden)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("Secrets cannot be pickled")
