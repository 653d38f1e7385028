"""``python -m transcribe_sdk``: the ``transcribe`` command, for when the console script is not
on ``PATH`` (a venv that is not activated, ``pipx run``, ...)."""

from .cli._main import main

if __name__ == "__main__":
    main()
