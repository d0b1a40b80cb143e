"""Report and figure output of ``xaurora demo``: Markdown/HTML report blocks and PNG saving.

:class:`Report` collects headings, paragraphs, tables and figures and renders them to
Markdown and to a self-contained HTML page; :func:`fmt` formats numbers for its tables,
:func:`save` writes a figure to PNG and closes it.
Matplotlib and cartopy are imported only when a figure is saved or drawn on.

>>> r = Report("demo")
>>> r.table(["layer", "accuracy"], [["encoder", fmt(0.91234)]])
>>> print(r.markdown())
# demo
<BLANKLINE>
| layer | accuracy |
|---|---|
| encoder | 0.912 |
<BLANKLINE>
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Report:
    """Blocks of the report, rendered to Markdown and HTML."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def h(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def fig(self, name: str, caption: str) -> None:
        self.blocks.append(("fig", (name, caption)))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, body in self.blocks:
            if kind == "h2":
                out += [f"## {body}", ""]
            elif kind == "p":
                out += [body, ""]
            elif kind == "table":
                header, rows = body
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "---|" * len(header))
                out += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("")
            elif kind == "fig":
                name, caption = body
                out += [f"![{caption}]({name})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        out = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'>",
            f"<title>{e(self.title)}</title><style>body{{font-family:sans-serif;max-width:60em;"
            "margin:2em auto;line-height:1.4}table{border-collapse:collapse}td,th{border:1px "
            "solid #ccc;padding:.2em .6em;text-align:right}img{max-width:100%}"
            "figcaption{font-style:italic;color:#444}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for kind, body in self.blocks:
            if kind == "h2":
                out.append(f"<h2>{e(body)}</h2>")
            elif kind == "p":
                out.append(f"<p>{e(body).replace('`', '')}</p>")
            elif kind == "table":
                header, rows = body
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
                out.append("</table>")
            elif kind == "fig":
                name, caption = body
                out.append(f"<figure><img src='{e(name)}' alt='{e(caption)}'>"
                           f"<figcaption>{e(caption)}</figcaption></figure>")
        out.append("</body></html>")
        return "\n".join(out)


def fmt(x: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.{digits}g}"


def save(ax, path: Path) -> None:
    import matplotlib.pyplot as plt  # heavy

    fig = ax.figure
    fig.savefig(path, dpi=110)
    plt.close(fig)
