"""The client core: :class:`~transcribe_sdk.Client`, :class:`~transcribe_sdk.AsyncClient` and
what one call goes through between them and the network.

- :mod:`.client` and :mod:`.async_client`: the public clients; :mod:`.base` what they share
  (settings, checks of the arguments);
- :mod:`.call`: one checked call; :mod:`.flow`: every decision across its attempts, without
  I/O; :mod:`.attempt`: what one attempt read and what its failures mean; :mod:`.guards`: the
  limits a caller sets; :mod:`.shells`: the sync and async loops that carry the flow out, and
  the httpx client's transport (ours, or the local engine's);
- :mod:`.options`, :mod:`.params`, :mod:`.diarize`, :mod:`.silence`: settings and request
  fields; :mod:`.response`, :mod:`.raw`: the answer; :mod:`.quality`: the warnings a result
  can raise (incomplete, another language); :mod:`.batch`: many files at once.

It may import :mod:`transcribe_sdk._http`, :mod:`transcribe_sdk._inputs`,
:mod:`transcribe_sdk._audio`, :mod:`transcribe_sdk.local` (the in-process engine), and the
top-level modules below the facade (``files``, ``streaming``, ``subtitles``, ``models``,
``errors`` and the private leaves). It never imports the facade (``transcribe_sdk``), ``cli``,
``testing``, ``ray`` or ``server``.
"""
