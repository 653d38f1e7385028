"""Print the runtime dependencies of pyproject.toml pinned to their lowest admitted versions.

CI installs these (``pip install -r``) to test that the lower bounds we declare really work:
every dependency with a ``>=`` bound becomes ``name==bound``. A dependency without a lower bound
is an error, since "any version" cannot be tested.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_BLOCK = re.compile(r"^dependencies\s*=\s*\[(.*?)^\]", re.MULTILINE | re.DOTALL)
_ITEM = re.compile(r'"([A-Za-z0-9_.\-\[\]]+)\s*([^"]*)"')
_LOWER = re.compile(r">=\s*([0-9][0-9A-Za-z.]*)")


def lowest(pyproject: str) -> list[str]:
    block = _BLOCK.search(pyproject)
    if block is None:
        raise SystemExit("pyproject.toml has no dependencies = [...] list")
    pins = []
    for name, spec in _ITEM.findall(block.group(1)):
        bound = _LOWER.search(spec)
        if bound is None:
            raise SystemExit(f"{name} has no lower bound (>=) to test")
        pins.append(f"{name}=={bound.group(1)}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print("\n".join(lowest((root / "pyproject.toml").read_text())))
