"""A self-contained HTML page: inline CSS, figures as base64 ``data:`` PNG images, no external links."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:28px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}\
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.note{color:#555;font-size:13px}
.flag{color:#a33}.ok{color:#282}img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:8px}"""


@dataclass
class Section:
    """One ``<h2>`` section: an id (the anchor tests look for), a title and HTML parts."""

    id: str
    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, words: str, cls: str = "note") -> Section:
        self.parts.append(f'<p class="{cls}">{html.escape(words)}</p>')
        return self

    def image(self, png: bytes, alt: str) -> Section:
        self.parts.append(image(png, alt))
        return self

    def table(self, df: pd.DataFrame, left: Sequence[str] = ()) -> Section:
        self.parts.append(table(df, left))
        return self

    def raw(self, fragment: str) -> Section:
        self.parts.append(fragment)
        return self

    def render(self) -> str:
        return (
            f'<section id="{self.id}"><h2>{html.escape(self.title)}</h2>\n'
            + "\n".join(self.parts)
            + "</section>"
        )


def image(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inline as a data URI."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.4g}"
    return html.escape(str(v))


def table(df: pd.DataFrame, left: Sequence[str] = ()) -> str:
    """A plain HTML table (floats to 4 significant digits, NaN empty); ``left`` columns left-aligned."""
    cls = {c: ' class="l"' if c in left else "" for c in df.columns}
    head = "".join(f"<th{cls[c]}>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td{cls[c]}>{_cell(v)}</td>" for c, v in zip(df.columns, row, strict=True))
        + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, intro: str, sections: Sequence[Section]) -> str:
    """The whole document."""
    toc = " · ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<p class="note">{html.escape(intro)}</p><p>{toc}</p>\n'
        + "\n".join(s.render() for s in sections)
        + "</body></html>\n"
    )
