"""Audio work that needs no network: decoding (PyAV, loaded only when used), splitting long
audio into pieces, stitching the pieces' transcripts back together, and the plans and streams
of ``transcribe_long``.

It may import ``files``, ``streaming``, ``subtitles``, ``models``, ``errors`` and the private
leaves; never :mod:`transcribe_sdk._client`, :mod:`transcribe_sdk._http`,
:mod:`transcribe_sdk._inputs` or anything above them.
"""
