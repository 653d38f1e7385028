"""Audio handed in, beyond :class:`~transcribe_sdk.files.AudioFile` itself: reading it from
async code, the multipart body it is sent in, audio given as a URL, and the decoder of such
bodies that :mod:`transcribe_sdk.testing` uses.

It may import :mod:`transcribe_sdk._http`, ``files``, ``errors`` and the private leaves
(``_formats``, ``_readers``); never :mod:`transcribe_sdk._client`, :mod:`transcribe_sdk._audio`
or anything above them.
"""
