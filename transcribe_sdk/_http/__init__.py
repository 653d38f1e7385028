"""The network layer of the clients we create: an httpx transport of our own over httpcore's
connection pool, built only on what httpx and httpcore document.

- :mod:`.wire`: what one attempt's connections saw (answer bytes, a new connection) and the
  wall-clock deadline every socket wait keeps to, carried in a context variable;
- :mod:`.streams` (sync, over httpcore's own backend) and :mod:`.async_streams` (on sockets of
  our own): the network backends handed to ``httpcore.ConnectionPool(network_backend=...)`` and
  the streams they open, which keep a server's early answer, skip interim ``1xx`` answers and
  never wait past the deadline; :mod:`.early` reads an early answer without I/O;
- :mod:`.transport`: ``HTTPTransport``/``AsyncHTTPTransport`` (public) over those pools, and
  the settings of the ``httpx`` clients we create (environment proxies included);
- :mod:`.retry`: the retry policy and ``Retry-After``; :mod:`.auth`: the bearer key and the
  secrets kept out of messages; :mod:`.sse`: server-sent events decoded from bytes.

It may import httpx, httpcore, h11 and anyio, and of this package only ``errors``: the layers
above (the shells, the retry flow, the streams) read what it records; it never reads them.
"""
