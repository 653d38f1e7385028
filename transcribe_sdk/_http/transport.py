"""The transports of the httpx clients we create, and those clients' settings.

:class:`HTTPTransport` and :class:`AsyncHTTPTransport` (public) are httpx transports over an
httpcore pool of their own (or a proxy's) on our network backends, translated to and from
httpx's types. :func:`client_settings` gives the ``httpx.Client``/``AsyncClient`` we create our
transport, and one per proxy the environment names (httpx reads none for a client given a
transport, so they are read here as httpx reads them).
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from .streams import Backend
from .wire import current

__all__ = [
    "DEFAULT_LIMITS",
    "AsyncHTTPTransport",
    "HTTPTransport",
    "client_settings",
    "environment_proxies",
]


_HTTPCORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as the httpx ones of the same name (what httpx's own transport
    raises, so callers see no difference)."""
    try:
        yield
    except _HTTPCORE_ERRORS as exc:
        raise _httpx_error(exc)(str(exc)) from exc


def _httpx_error(exc: Exception) -> type[httpx.TransportError]:
    for kind in type(exc).__mro__:  # ReadTimeout, then TimeoutException... (both libraries)
        found = getattr(httpx, kind.__name__, None)
        if isinstance(found, type) and issubclass(found, httpx.TransportError):
            return found
    return httpx.TransportError


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


def _async_backend() -> httpcore.AsyncNetworkBackend:
    from .async_streams import AsyncBackend  # anyio's TLS and lowlevel: when an AsyncClient is made

    return AsyncBackend()


def _proxied(proxy: httpx.Proxy, options: dict[str, Any], asynchronous: bool) -> Any:
    """The pool that reaches every origin through ``proxy`` (HTTP(S) or SOCKS5, as httpx)."""
    url = proxy.url
    proxy_url = httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )
    backend = _async_backend() if asynchronous else Backend()
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


def _replaced(method: Any) -> bool:
    """Whether httpx's own transport method was replaced by something outside httpx: a test
    double such as pytest-httpx, which patches ``httpx.HTTPTransport.handle_request``."""
    return not str(getattr(method, "__module__", "")).startswith("httpx.")


DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""Connections of the clients we create (httpx's defaults). More idle connections kept is
slower, not faster: httpcore's pool scans its connections once per idle connection on every
request, and with 64 calls in flight keeping 100 alive tripled the CPU per request."""

ProxyArg = httpx.Proxy | httpx.URL | str | None
VerifyArg = ssl.SSLContext | str | bool
CertArg = str | tuple[str, str] | tuple[str, str, str]
SocketOptions = Iterable[tuple[int, int, int] | tuple[int, int, bytes | bytearray]]


class _Guarded:
    """What both transports add to httpx's: a pool of their own over our network backend,
    built from httpx's arguments (httpx's pool stays, for when a test double passes requests
    on to ``httpx.HTTPTransport``'s own method)."""

    _asynchronous = False

    def __init__(  # noqa: PLR0917  # httpx.HTTPTransport's signature, positions and all
        self,
        verify: VerifyArg = True,
        cert: CertArg | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_LIMITS,
        proxy: ProxyArg = None,
        uds: str | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: SocketOptions | None = None,
    ) -> None:
        """``httpx.HTTPTransport``'s arguments, in its order; HTTP/1.1 only."""
        if http2 or not http1:
            raise ValueError(
                "transcribe-sdk's transport speaks HTTP/1.1 only (http1=True, http2=False): "
                "it reads a server's early answer as HTTP/1.1"
            )
        context = httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        chosen = httpx.Proxy(proxy) if isinstance(proxy, str | httpx.URL) else proxy
        super().__init__(  # type: ignore[call-arg]  # httpx's transport, next in line
            verify=context,
            limits=limits,
            proxy=chosen,
            uds=uds,
            local_address=local_address,
            retries=retries,
            socket_options=socket_options,
        )
        options: dict[str, Any] = {
            "ssl_context": context,
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "http1": True,
            "http2": False,
            "retries": retries,
        }
        if chosen is not None:
            self._guarded_pool: Any = _proxied(chosen, options, self._asynchronous)
            return
        options.update(uds=uds, local_address=local_address, socket_options=socket_options)
        if self._asynchronous:
            self._guarded_pool = httpcore.AsyncConnectionPool(
                **options, network_backend=_async_backend()
            )
        else:
            self._guarded_pool = httpcore.ConnectionPool(**options, network_backend=Backend())


class HTTPTransport(_Guarded, httpx.HTTPTransport):
    """The transport of transcribe-sdk's own clients, for an ``httpx.Client`` of yours:
    ``Client(http_client=httpx.Client(transport=HTTPTransport(...), event_hooks=...))`` then
    behaves as the client transcribe-sdk makes (early answers kept, interim ``1xx`` skipped,
    ``deadline=`` on every socket wait, stale keep-alive connections re-sent for free).

    It takes ``httpx.HTTPTransport``'s arguments (HTTP/1.1 only) and sends through an httpcore
    pool of its own; while something outside httpx has replaced
    ``httpx.HTTPTransport.handle_request`` (pytest-httpx does, to mock requests), requests go
    through that, as for any httpx client.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response, the body not read yet."""
        replaced = httpx.HTTPTransport.handle_request
        if _replaced(replaced):
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
        """Close every connection."""
        self._guarded_pool.close()
        super().close()

    def __exit__(self, *exc_info: object) -> None:
        """Close every connection (httpx's own ``__exit__`` closes only its pool)."""
        self.close()


class AsyncHTTPTransport(_Guarded, httpx.AsyncHTTPTransport):
    """:class:`HTTPTransport` for an ``httpx.AsyncClient``: the same arguments and behaviour,
    on sockets of its own (asyncio or trio)."""

    _asynchronous = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response, the body not read yet."""
        replaced = httpx.AsyncHTTPTransport.handle_async_request
        if _replaced(replaced):
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
        """Close every connection."""
        await self._guarded_pool.aclose()
        await super().aclose()

    async def __aexit__(self, *exc_info: object) -> None:
        """Close every connection (httpx's own ``__aexit__`` closes only its pool)."""
        await self.aclose()


def environment_proxies() -> dict[str, str | None]:
    """The proxies the environment names (``HTTPS_PROXY``, ``NO_PROXY``...), as httpx mount
    patterns: a proxy URL, or ``None`` for a host that must be reached directly."""
    found = urllib.request.getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        target = found.get(scheme)
        if target:
            mounts[f"{scheme}://"] = target if "://" in target else f"http://{target}"
    for host in filter(None, (h.strip() for h in found.get("no", "").split(","))):
        bare = host.strip("[]")
        if host == "*":
            return {}
        if "://" in host:
            mounts[host] = None
        elif _ip_version(bare) == 6:
            mounts[f"all://[{bare}]"] = None
        elif _ip_version(bare) == 4 or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None  # the domain and its subdomains
    return mounts


def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_network(host, strict=False).version
    except ValueError:
        return None


def client_settings(*, limits: httpx.Limits, asynchronous: bool) -> dict[str, Any]:
    """``transport`` and ``mounts`` for the httpx client we create: our transport, and ours
    through each proxy the environment names."""
    kind: type[HTTPTransport | AsyncHTTPTransport] = (
        AsyncHTTPTransport if asynchronous else HTTPTransport
    )
    context = httpx.create_ssl_context()  # one for all: loading the CA bundle takes a while
    mounts = {
        pattern: None if target is None else kind(verify=context, limits=limits, proxy=target)
        for pattern, target in environment_proxies().items()
    }
    return {"transport": kind(verify=context, limits=limits), "mounts": mounts}
