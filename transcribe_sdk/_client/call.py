"""One ``transcribe`` call, checked and ready to send: :class:`Call`.

It is what every step of a call reads (the flow's decisions, an attempt's error messages, the
guards' limits), so it sits below all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from .._http.auth import Secrets
from ..errors import APITimeoutError
from .options import DEFAULT_MAX_RESPONSE_BYTES, shown_url

if TYPE_CHECKING:
    from .._http.retry import RetryPolicy
    from .batch import RateGate
    from .params import RequestParams
    from .silence import SilenceFilter

__all__ = ["Call"]


@dataclass
class Call:
    """One ``transcribe`` call, checked and ready to send as many times as the policy allows."""

    url: str
    params: RequestParams
    headers: dict[str, str]
    timeout: httpx.Timeout
    policy: RetryPolicy
    started: float
    upload_size: int | None = None
    gate: RateGate | None = None
    silence: SilenceFilter | None = None
    """Drop segments the server scored as silence, then give ``asked_format``'s shape."""
    asked_format: str | None = None
    stream: bool = False
    """Ask for events; a 2xx event stream is handed to the caller unread."""
    max_upload_bytes: int | None = None
    max_audio_seconds: float | None = None
    enforce_providers: tuple[str, ...] | None = None
    """The providers an answer must come from (``enforce_allowed_providers``)."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    local: bool = False
    router: bool = False
    secrets: Secrets = field(default_factory=Secrets, repr=False)

    @property
    def shown_url(self) -> str:
        """The URL for messages and logs: without a user name or password it may carry."""
        return shown_url(self.url)

    @property
    def where(self) -> str:
        """Where the request goes, for messages: the method and URL, or the local engine."""
        return "the local engine" if self.local else f"POST {self.shown_url}"

    def deadline_at(self) -> float | None:
        """``time.monotonic()`` at the deadline, ``None`` without one."""
        if self.policy.deadline is None:
            return None
        return self.started + self.policy.deadline

    def time_left(self) -> float | None:
        """Seconds until the call's deadline (0 once past it), ``None`` without one."""
        if self.policy.deadline is None:
            return None
        return max(0.0, self.policy.deadline - (time.monotonic() - self.started))

    def deadline_error(self) -> APITimeoutError:
        """The error of a call that ran out of its deadline."""
        return APITimeoutError(
            f"The call to {self.where} ran out of its deadline of {self.policy.deadline:g} s "
            "(retries and waits included). Raise deadline= (or drop it) to wait longer.",
            reason="deadline",
        )
