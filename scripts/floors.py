"""Print the longest import chain among transcribe_sdk's own modules; fail above the limit.

A *floor* is a module on that chain: the number of floors is how many modules a reader may have
to hold in mind, one below the other, to follow one import from the top of the package to the
bottom. CI (``.ci/run``, step 2) runs this next to ``lint-imports``.

What counts as an edge is what runs: every import of one of the package's modules by another,
at the top of a module or inside a function (a lazy import runs when the function does). An
import only under ``if TYPE_CHECKING:`` never runs and does not count (ruff's ``TC001`` keeps
imports used only in annotations there). The parent packages that Python loads on the way to a
module (``import a.b`` runs ``a/__init__.py``) are not edges of their own: they are the same for
every module of a folder. grimp reads ``import`` statements, so the facade's lazy names
(``importlib.import_module`` in ``transcribe_sdk/__init__.py``) are not seen; the facade is
imported by nothing in the package, so they could only lengthen chains that start at it, and
the modules they name are lower than the facade's own imports (``_client.client``).

    python scripts/floors.py            # the chain, and exit status 1 if it is above 12 floors
    python scripts/floors.py --max 10   # another limit
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

import grimp

PACKAGE = "transcribe_sdk"
MAX_FLOORS = 12


def longest_chain(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[str]:
    """The longest chain of imports, importer first. The graph must have no circles."""
    below: dict[str, list[str]] = {}  # a module and the longest chain below it, itself first
    visiting: set[str] = set()

    def chain_from(module: str) -> list[str]:
        done = below.get(module)
        if done is not None:
            return done
        if module in visiting:
            raise SystemExit(f"floors: an import circle through {module}; see lint-imports")
        visiting.add(module)
        best: list[str] = []
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            candidate = chain_from(imported)
            if len(candidate) > len(best):
                best = candidate
        visiting.discard(module)
        below[module] = [module, *best]
        return below[module]

    longest: list[str] = []
    for module in sorted(modules):
        candidate = chain_from(module)
        if len(candidate) > len(longest):
            longest = candidate
    return longest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=MAX_FLOORS, help="the most floors allowed")
    args = parser.parse_args(argv)
    graph = grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)
    chain = longest_chain(graph, graph.modules)
    short = [m.removeprefix(PACKAGE + ".") if m != PACKAGE else m for m in chain]
    print(f"{len(chain)} floors (at most {args.max}): " + " → ".join(short))
    if len(chain) > args.max:
        print(
            f"floors: {len(chain)} floors is more than {args.max}; cut an import on this chain",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
