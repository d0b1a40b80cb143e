"""Griffe extension for the docs: render bare ``>>>`` doctest blocks as ``pycon`` code fences.

Docstrings here carry runnable examples outside an ``Examples:`` section. Without fences,
Markdown reads their output (``['a', 'b']``, ``x[:2]``) as reference links and mkdocs-autorefs
warns; fenced, they render as highlighted console sessions. Used by ``mkdocs.yml``.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of ``>>>``/``...``/output lines (up to a blank line) in a code fence.

    >>> fence_doctests("Text.\\n\\n>>> 1 + 1\\n2").splitlines()
    ['Text.', '', '```pycon', '>>> 1 + 1', '2', '```']
    """
    out: list[str] = []
    in_fence = in_block = False
    indent = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not in_block and stripped.startswith("```"):
            in_fence = not in_fence
        if in_block and not stripped:
            out.append(f"{indent}```")
            in_block = False
        elif not in_fence and not in_block and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            in_block = True
        out.append(line)
    if in_block:
        out.append(f"{indent}```")
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


class DoctestFences(griffe.Extension):
    """Fence the doctest blocks of every loaded object's docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # griffe >= 1
        doc = getattr(obj, "docstring", None)
        if doc is not None and ">>>" in doc.value:
            doc.value = fence_doctests(doc.value)
