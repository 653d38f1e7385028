"""A Griffe extension that lets mkdocstrings render the package's reST-flavoured docstrings.

The package's docstrings use Sphinx roles (``:class:`Transcription```) and literal blocks
introduced by ``::``. Markdown knows neither, so before rendering each docstring:

- a role becomes a code span (``:meth:`~pkg.Client.close``` becomes ``close``);
- a paragraph ending in ``::`` ends in ``:`` and the indented block after it becomes a fenced
  code block (``bash`` when it looks like a shell command, ``python`` otherwise).

Loaded from mkdocs.yml; it changes only what the documentation shows, never the package.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|mod|attr|exc|obj|const):`(~?)([^`]+)`")
_SHELL_START = ("transcribe ", "transcribe-sdk ", "curl ", "pip ", "python ", "$ ")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _language(block: list[str]) -> str:
    first = next((line.strip() for line in block if line.strip()), "")
    return "bash" if first.startswith(_SHELL_START) else "python"


def convert(text: str) -> str:
    """Markdown for one reST-flavoured docstring."""
    lines = _ROLE.sub(_role, text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        head = line.rstrip()[:-1]  # "Example::" -> "Example:"
        if head.strip() != ":":
            out.append(head)
        i += 1
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        body = textwrap.dedent("\n".join(block)).strip("\n")
        out.extend(["", f"```{_language(block)}", body, "```", ""])
    return "\n".join(out)


class RstDocstrings(griffe.Extension):
    """Rewrite every docstring of the loaded package into Markdown."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
