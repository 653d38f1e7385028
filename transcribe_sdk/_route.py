"""What a router says about one request, read from its response headers: :class:`Route`.

This is the one place router headers are read. A router family is a :class:`_Family`: the
header names it uses for each field, and the prefix under which it passes the provider's own
headers through. LiteLLM's proxy (which the cortecs.ai router is built on) is the only family
today; another (an OpenRouter-style ``x-*`` family, say) is one more entry in ``_FAMILIES``.

Pure code over a mapping of headers. Names are read case-insensitively; a value that cannot be
read (a cost of ``"abc"``, a negative or NaN number) reads as ``None``, never as an exception
and never as 0: ``None`` always means "the router did not say".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

__all__ = ["Route", "route_from_headers", "total_cost"]

# Bounds on what a peer can make us keep: a route is small whatever the router sends.
MAX_PROVIDER_HEADERS = 64
"""At most this many passed-through provider headers are kept (the first ones sent)."""
MAX_VALUE_CHARS = 1024
"""A header value longer than this is cut to this length."""


class Route(BaseModel):
    """Which deployment served a request, what it cost, and what the router did on the way.

    Read from a router's response headers (LiteLLM's ``x-litellm-*``). Every field is ``None``
    when the router did not send it (or sent something unreadable), never 0, so a sum of costs
    can tell "free" from "not reported".

    Example::

        result = client.transcribe("talk.wav", model="whisper-large-v3")
        print(result.route.model_group, result.route.cost)
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, protected_namespaces=())

    deployment_id: str | None = None
    """The deployment that served the request (``x-litellm-model-id``)."""
    model_group: str | None = None
    """The model group the request was routed in (``x-litellm-model-group``)."""
    api_base: str | None = None
    """The provider's API base the router called (``x-litellm-model-api-base``)."""
    attempted_retries: int | None = None
    """How many times the router retried (``x-litellm-attempted-retries``)."""
    attempted_fallbacks: int | None = None
    """How many fallbacks the router tried (``x-litellm-attempted-fallbacks``)."""
    duration_ms: float | None = None
    """How long the router took, in milliseconds (``x-litellm-response-duration-ms``)."""
    cost: float | None = None
    """What the request cost, as the router computed it (``x-litellm-response-cost``)."""
    provider_headers: dict[str, str] | None = None
    """The provider's own headers the router passed on (``llm_provider-*``, prefix stripped,
    names in lower case)."""

    @property
    def provider(self) -> str | None:
        """The provider as far as the headers tell: the host name of :attr:`api_base`
        (``"api.groq.com"``), or ``None``."""
        if not self.api_base:
            return None
        try:
            host = urlsplit(self.api_base).hostname
        except ValueError:
            return None
        return host or None

    @property
    def is_empty(self) -> bool:
        """True when the router said nothing at all (not a router, or a plain server)."""
        return all(value is None for value in self.__dict__.values())


@dataclass(frozen=True)
class _Family:
    """The header names one router family uses for the fields of :class:`Route`."""

    name: str
    fields: Mapping[str, str]
    provider_prefix: str | None


_LITELLM = _Family(
    name="litellm",
    fields={
        "deployment_id": "x-litellm-model-id",
        "model_group": "x-litellm-model-group",
        "api_base": "x-litellm-model-api-base",
        "attempted_retries": "x-litellm-attempted-retries",
        "attempted_fallbacks": "x-litellm-attempted-fallbacks",
        "duration_ms": "x-litellm-response-duration-ms",
        "cost": "x-litellm-response-cost",
    },
    provider_prefix="llm_provider-",
)

_FAMILIES = (_LITELLM,)
"""Every router family known, most specific first; the first to fill a field wins."""

_COUNTS = frozenset({"attempted_retries", "attempted_fallbacks"})
_NUMBERS = frozenset({"duration_ms", "cost"})


def _text(value: str) -> str | None:
    value = value.strip()[:MAX_VALUE_CHARS]
    # LiteLLM writes a Python None as the text "None" when it has no value.
    return value if value and value.lower() not in ("none", "null") else None


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _count(value: str) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _read(name: str, value: str) -> Any:
    if name in _COUNTS:
        return _count(value)
    if name in _NUMBERS:
        return _number(value)
    return _text(value)


def route_from_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Route:
    """The :class:`Route` a router's response headers describe (every field ``None`` when it
    sent none of them). Never raises on a value it cannot read."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lowered: dict[str, str] = {}
    for key, value in items:
        lowered.setdefault(str(key).lower(), str(value))
    found: dict[str, Any] = {}
    passed: dict[str, str] = {}
    for family in _FAMILIES:
        for field, header in family.fields.items():
            if found.get(field) is None and header in lowered:
                found[field] = _read(field, lowered[header])
        prefix = family.provider_prefix
        if prefix is None:
            continue
        for key, value in lowered.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                if len(passed) >= MAX_PROVIDER_HEADERS:
                    break
                passed.setdefault(key[len(prefix) :], value[:MAX_VALUE_CHARS])
    if passed:
        found["provider_headers"] = passed
    return Route(**found)


def _joined(values: list[str | None]) -> str | None:
    distinct = sorted({v for v in values if v is not None})
    return ",".join(distinct) if distinct else None


def _sum(values: list[Any]) -> Any:
    return None if any(v is None for v in values) else sum(values)


def combine(routes: list[Route]) -> Route:
    """One route for a call made of several requests (the pieces of ``transcribe_long``).

    Names that differ are joined by commas (as ``provider`` is); counts, durations and costs
    add up, and are ``None`` when any piece's is unknown; provider headers are left out (they
    belong to each piece, in ``model_extra["chunks"]``).
    """
    if not routes:
        return Route()
    return Route(
        deployment_id=_joined([r.deployment_id for r in routes]),
        model_group=_joined([r.model_group for r in routes]),
        api_base=_joined([r.api_base for r in routes]),
        attempted_retries=_sum([r.attempted_retries for r in routes]),
        attempted_fallbacks=_sum([r.attempted_fallbacks for r in routes]),
        duration_ms=_sum([r.duration_ms for r in routes]),
        cost=_sum([r.cost for r in routes]),
    )


def _route_of(item: Any) -> Route | None:
    if isinstance(item, Route):
        return item
    route = getattr(item, "route", None)
    if isinstance(route, Route):
        return route
    result = getattr(item, "result", None)  # a BatchResult without its own route
    route = getattr(result, "route", None)
    return route if isinstance(route, Route) else None


def total_cost(items: Iterable[Any]) -> float | None:
    """The sum of the router's cost of ``items``: results, batch results, streams, raw
    responses, errors (a failed request may be billed too) or :class:`Route` values.

    ``None`` when any of them has no known cost (a result without a route, a route without a
    cost), so a partial sum is never mistaken for the whole; ``None`` for no items too.

    Example::

        results = client.transcribe_many(paths, model="whisper-large-v3")
        print(total_cost(results))  # e.g. 0.0042, or None if the router did not say
    """
    total = 0.0
    count = 0
    for item in items:
        route = _route_of(item)
        if route is None or route.cost is None:
            return None
        total += route.cost
        count += 1
    return total if count else None
