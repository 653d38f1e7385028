"""A response's body, decoded as it is read with memory bounded per step (see :mod:`.inflate`).

httpx's ``iter_bytes`` decodes each read whole: a small gzip or deflate body can become
megabytes (or, stacked as ``gzip, gzip``, gigabytes) in one step, before any size cap is
checked. These read ``iter_raw`` through a :class:`~.inflate.Decoder` instead, so a cap on the
decoded bytes stops the read within :data:`~.inflate.PIECE` of it. A body that is not what its
``Content-Encoding`` says is ``httpx.DecodingError``, as httpx itself would raise.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator

import httpx

from .inflate import BodyDecodeError, Decoder

__all__ = ["aiter_decoded", "iter_decoded"]


def _decoder(response: httpx.Response) -> Decoder | None:
    try:
        return Decoder.for_encoding(response.headers.get("content-encoding", ""))
    except BodyDecodeError as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from None


def iter_decoded(response: httpx.Response) -> Iterator[bytes]:
    """The decoded bytes of ``response``'s body (opened with ``stream=True``), in pieces."""
    decoder = _decoder(response)
    if decoder is None:
        yield from response.iter_bytes()
        return
    try:
        for raw in response.iter_raw():
            yield from decoder.feed(raw)
    except BodyDecodeError as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from None


async def aiter_decoded(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The async :func:`iter_decoded`."""
    decoder = _decoder(response)
    if decoder is None:
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    try:
        async for raw in response.aiter_raw():
            for piece in decoder.feed(raw):
                yield piece
    except BodyDecodeError as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from None
