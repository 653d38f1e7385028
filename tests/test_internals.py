"""tests/internals.py: every private name it lists still exists where it says."""

from __future__ import annotations

import importlib.util

import internals
import pytest

# Entries in modules that import an optional extra; skipped where that extra is not installed.
NEEDS = {
    "transcribe_sdk._audio": "av",
    "transcribe_sdk.local": "faster_whisper",
    "transcribe_sdk.server": "uvicorn",
    "transcribe_sdk.ray": "ray",
    "transcribe_sdk.cli._ray": "ray",
}


@pytest.mark.parametrize("name", sorted(internals.PRIVATE))
def test_every_entry_resolves(name: str) -> None:
    where = internals.PRIVATE[name]
    for prefix, extra in NEEDS.items():
        if where.startswith(prefix) and importlib.util.find_spec(extra) is None:
            pytest.skip(f"{where} needs {extra}")
    assert internals.resolve(name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no entry 'nothing_here'"):
        internals.resolve("nothing_here")
    with pytest.raises(ImportError):
        from internals import nothing_here  # noqa: F401
