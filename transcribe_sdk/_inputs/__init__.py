"""Audio handed in, beyond :class:`~transcribe_sdk.files.AudioFile` itself: reading it from
async code, the multipart body it is sent in, and audio given as a URL. (Multipart bodies are
read, by the local engine, its server and :mod:`transcribe_sdk.testing`, with python-multipart
in :mod:`transcribe_sdk.local._forms`.)

It may import :mod:`transcribe_sdk._http`, ``files``, ``errors`` and the private leaves
(``_formats``, ``_readers``); never :mod:`transcribe_sdk._client`, :mod:`transcribe_sdk._audio`
or anything above them.
"""
