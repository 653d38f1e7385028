"""The ``transcribe`` command (``python -m transcribe_sdk``): many files in, one transcript file
out for each.

- :mod:`._main`: the run; :mod:`._args`: its flags; :mod:`._output`: transcript files and their
  names; :mod:`._progress`: the progress line; :mod:`._ray`: ``--ray``, a batch on a Ray
  cluster.

It sits on top: it may import the facade's modules, ``local`` and ``ray`` (loaded only with
``--ray``); nothing in the package imports it but ``__main__``.
"""

from ._main import main

__all__ = ["main"]
