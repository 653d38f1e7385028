"""The transports of the httpx clients we create, and those clients' settings.

httpx documents custom transports (``httpx.BaseTransport``, ``httpx.AsyncBaseTransport``);
httpcore documents its connection pools and their ``network_backend`` argument. :class:`Transport`
and :class:`AsyncTransport` are a pool (or a proxy's pool) over our guarded backend
(:mod:`.streams`), translated to and from httpx's request, response and exception types.
:func:`client_settings` gives the keyword arguments of the ``httpx.Client``/``AsyncClient`` we
create: our transport, and one per proxy the environment names (httpx reads no environment
proxies for a client given a transport, so they are read here the way httpx reads them).
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from .async_streams import AsyncBackend
from .streams import Backend
from .wire import current

__all__ = ["AsyncTransport", "Transport", "client_settings"]

_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as the httpx ones of the same name (what httpx's own transport
    raises, so callers see no difference)."""
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


def _core_request(request: httpx.Request) -> httpcore.Request:
    url = request.url
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


def _carried() -> None:
    wire = current.get()
    if wire is not None:
        wire.carried = True


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._response.iter_stream()

    def close(self) -> None:
        with _httpx_errors():
            self._response.close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._response.aiter_stream():
                yield part

    async def aclose(self) -> None:
        with _httpx_errors():
            await self._response.aclose()


def _pool_options(limits: httpx.Limits, ssl_context: ssl.SSLContext) -> dict[str, Any]:
    return {
        "ssl_context": ssl_context,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": True,
        "http2": False,
    }


def _proxied(proxy: httpx.Proxy, options: dict[str, Any], asynchronous: bool) -> Any:
    """The pool that reaches every origin through ``proxy`` (HTTP(S) or SOCKS5, as httpx)."""
    url = proxy.url
    proxy_url = httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )
    backend = AsyncBackend() if asynchronous else Backend()
    if url.scheme in ("socks5", "socks5h"):
        kind: Any = httpcore.AsyncSOCKSProxy if asynchronous else httpcore.SOCKSProxy
        return kind(
            proxy_url=proxy_url, proxy_auth=proxy.raw_auth, network_backend=backend, **options
        )
    kind = httpcore.AsyncHTTPProxy if asynchronous else httpcore.HTTPProxy
    return kind(
        proxy_url=proxy_url,
        proxy_auth=proxy.raw_auth,
        proxy_headers=proxy.headers.raw,
        proxy_ssl_context=proxy.ssl_context,
        network_backend=backend,
        **options,
    )


_HTTPX_SEND = httpx.HTTPTransport.handle_request
_HTTPX_ASYNC_SEND = httpx.AsyncHTTPTransport.handle_async_request


class Transport(httpx.HTTPTransport):
    """An ``httpx.HTTPTransport`` that sends through an httpcore pool of its own, whose
    connections are guarded (:mod:`.streams`).

    It is an ``HTTPTransport`` so that what replaces httpx's transport for tests (pytest-httpx
    patches ``httpx.HTTPTransport.handle_request``) replaces it too: while httpx's method is
    not the one it was at import, requests go through that method, as they would for any
    httpx client, and the pool httpx built for this transport serves what it passes on.
    """

    def __init__(self, *, limits: httpx.Limits, proxy: httpx.Proxy | None = None) -> None:
        context = httpx.create_ssl_context(trust_env=True)
        super().__init__(verify=context, limits=limits, proxy=proxy)
        options = _pool_options(limits, context)
        self._guarded_pool: httpcore.ConnectionPool = (
            httpcore.ConnectionPool(**options, network_backend=Backend())
            if proxy is None
            else _proxied(proxy, options, asynchronous=False)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        replaced = httpx.HTTPTransport.handle_request
        if replaced is not _HTTPX_SEND:
            return replaced(self, request)
        _carried()
        with _httpx_errors():
            response = self._guarded_pool.handle_request(_core_request(request))
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._guarded_pool.close()
        super().close()


class AsyncTransport(httpx.AsyncHTTPTransport):
    """:class:`Transport` for ``httpx.AsyncClient``: the same, awaited."""

    def __init__(self, *, limits: httpx.Limits, proxy: httpx.Proxy | None = None) -> None:
        context = httpx.create_ssl_context(trust_env=True)
        super().__init__(verify=context, limits=limits, proxy=proxy)
        options = _pool_options(limits, context)
        self._guarded_pool: httpcore.AsyncConnectionPool = (
            httpcore.AsyncConnectionPool(**options, network_backend=AsyncBackend())
            if proxy is None
            else _proxied(proxy, options, asynchronous=True)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        replaced = httpx.AsyncHTTPTransport.handle_async_request
        if replaced is not _HTTPX_ASYNC_SEND:
            return await replaced(self, request)
        _carried()
        with _httpx_errors():
            response = await self._guarded_pool.handle_async_request(_core_request(request))
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_AsyncBody(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._guarded_pool.aclose()
        await super().aclose()


def environment_proxies() -> dict[str, str | None]:
    """The proxies the environment names (``HTTPS_PROXY``, ``NO_PROXY``...), as httpx mount
    patterns: a proxy URL, or ``None`` for a host that must be reached directly."""
    found = urllib.request.getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        target = found.get(scheme)
        if target:
            mounts[f"{scheme}://"] = target if "://" in target else f"http://{target}"
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        version = _ip_version(host.strip("[]"))
        if "://" in host:
            mounts[host] = None
        elif version == 4:
            mounts[f"all://{host}"] = None
        elif version == 6:
            mounts[f"all://[{host.strip('[]')}]"] = None
        elif host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_network(host, strict=False).version
    except ValueError:
        return None


def client_settings(*, limits: httpx.Limits, asynchronous: bool) -> dict[str, Any]:
    """``transport`` and ``mounts`` for the httpx client we create: our transport, and ours
    through each proxy the environment names."""
    kind = AsyncTransport if asynchronous else Transport
    mounts: dict[str, Any] = {}
    for pattern, target in environment_proxies().items():
        mounts[pattern] = None if target is None else kind(limits=limits, proxy=httpx.Proxy(target))
    return {"transport": kind(limits=limits), "mounts": mounts}
