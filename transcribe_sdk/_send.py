"""How one request goes out, for both shells.

An ``http_client`` the user passed in is theirs: every request goes through its ``send``, with
its auth, cookies, event hooks and mounts as they configured them.

An httpx client we created has none of those to honour (no hooks, no cookies an API needs, no
redirects we would follow), and its requests go straight to the transport httpx itself would
pick for the URL (its proxy mounts from the environment included). Its default headers and our
``Authorization`` are merged once, and each URL is parsed once. That skips what costs the most
per small upload: building the request through the client, the auth and redirect generators,
and cookie extraction, about a quarter of the client's CPU per request on loopback
(``benchmarks/compare.py``). The rest is what ``Client.send`` does: a closed client refuses,
an error and a response name their request, a response's ``elapsed`` is set when it closes.

A client whose layout this does not know (no ``_transport_for_url``) is simply sent through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import httpx

from ._options import shown_url

logger = logging.getLogger("transcribe_sdk")

_ROUTES_KEPT = 16
"""URLs whose parsed form and transport are remembered (a client sends to one or two)."""


def _log(url: str, response: httpx.Response) -> None:
    # The line httpx logs at INFO for its own sends, here at DEBUG with the URL shown safely.
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            'HTTP Request: POST %s "%s %d %s"',
            shown_url(url),
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )


class _Timed(httpx.SyncByteStream):
    """A response's stream that sets its ``elapsed`` when closed, as ``Client.send`` does."""

    __slots__ = ("_response", "_start", "_stream")

    def __init__(self, response: httpx.Response, start: float) -> None:
        self._stream = response.stream
        self._response = response
        self._start = start

    def __iter__(self) -> Iterator[bytes]:
        assert isinstance(self._stream, httpx.SyncByteStream)
        return iter(self._stream)

    def close(self) -> None:
        self._response.elapsed = timedelta(seconds=time.perf_counter() - self._start)
        assert isinstance(self._stream, httpx.SyncByteStream)
        self._stream.close()


class _AsyncTimed(httpx.AsyncByteStream):
    """Like :class:`_Timed`, for an ``httpx.AsyncClient``'s response."""

    __slots__ = ("_response", "_start", "_stream")

    def __init__(self, response: httpx.Response, start: float) -> None:
        self._stream = response.stream
        self._response = response
        self._start = start

    def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._stream, httpx.AsyncByteStream)
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        self._response.elapsed = timedelta(seconds=time.perf_counter() - self._start)
        assert isinstance(self._stream, httpx.AsyncByteStream)
        await self._stream.aclose()


def _merge(headers: dict[str, tuple[str, str]], extra: Mapping[str, str]) -> None:
    for name, value in extra.items():
        headers[name.lower()] = (name, value)


class Outbound:
    """Builds and sends the upload requests of one client (see the module's notes)."""

    __slots__ = ("_auth", "_fixed", "_http", "_pick", "_routes")

    def __init__(
        self, http: httpx.Client | httpx.AsyncClient, auth: httpx.Auth | None, owned: bool
    ) -> None:
        self._http = http
        self._auth = auth
        pick: Callable[[httpx.URL], Any] | None = getattr(http, "_transport_for_url", None)
        self._pick = pick if owned and callable(pick) else None
        self._routes: dict[str, tuple[httpx.URL, Any]] = {}
        self._fixed: dict[str, tuple[str, str]] = {}
        if self._pick is None:
            return
        for raw_name, raw_value in http.headers.raw:
            name = raw_name.decode("latin-1")
            self._fixed[name.lower()] = (name, raw_value.decode("latin-1"))
        if auth is not None:
            # Our auths (bearer, or a URL's user and password) only set a header: take it once.
            probe = httpx.Request("POST", "http://localhost/")
            next(auth.sync_auth_flow(probe))
            _merge(self._fixed, {"Authorization": probe.headers["Authorization"]})

    @property
    def direct(self) -> bool:
        """Whether requests go straight to the transport (an httpx client we created)."""
        return self._pick is not None

    def _route(self, url: str) -> tuple[httpx.URL, Any]:
        route = self._routes.get(url)
        if route is None:
            parsed = httpx.URL(url)
            assert self._pick is not None
            route = (parsed, self._pick(parsed))
            if len(self._routes) >= _ROUTES_KEPT:
                self._routes.clear()
            self._routes[url] = route
        return route

    def request(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body_headers: Mapping[str, str],
        content: Iterable[bytes] | AsyncIterable[bytes],
        timeout: httpx.Timeout,
        extensions: dict[str, Any],
    ) -> httpx.Request:
        """The ``POST`` to send: ``headers`` (the call's) and ``body_headers`` over the client's."""
        if self._pick is None:
            return self._http.build_request(
                "POST",
                url,
                headers={**headers, **body_headers},
                content=content,
                timeout=timeout,
                extensions=extensions,
            )
        merged = dict(self._fixed)
        _merge(merged, headers)
        _merge(merged, body_headers)
        return httpx.Request(
            "POST",
            self._route(url)[0],
            headers=list(merged.values()),
            content=content,
            extensions={**extensions, "timeout": timeout.as_dict()},
        )

    def _check_open(self) -> None:
        if self._http.is_closed:
            # What httpx raises in the same case; the shells turn it into ClientClosedError.
            raise RuntimeError("Cannot send a request, as the client has been closed.")

    def send(self, url: str, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (built for ``url``) and return the response, its body not read."""
        http = self._http
        if self._pick is None:
            assert isinstance(http, httpx.Client)
            return http.send(request, auth=self._auth, stream=True, follow_redirects=False)
        self._check_open()
        start = time.perf_counter()
        try:
            response: httpx.Response = self._route(url)[1].handle_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        response.stream = _Timed(response, start)
        _log(url, response)
        return response

    async def asend(self, url: str, request: httpx.Request) -> httpx.Response:
        """Like :meth:`send`, for an ``httpx.AsyncClient``."""
        http = self._http
        if self._pick is None:
            assert isinstance(http, httpx.AsyncClient)
            return await http.send(request, auth=self._auth, stream=True, follow_redirects=False)
        self._check_open()
        start = time.perf_counter()
        try:
            transport = self._route(url)[1]
            response: httpx.Response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        response.stream = _AsyncTimed(response, start)
        _log(url, response)
        return response
