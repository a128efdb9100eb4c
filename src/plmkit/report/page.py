"""The HTML of a report: one self-contained page (inline CSS, images as data: URIs, no script,
no link to anywhere), built from sections of escaped text, tables and figures.

Every number taken from a run's results JSON goes through `Page.num`, which tags it with the
key it came from (`data-key="metrics.test.accuracy"`, `data-value` the JSON value itself), so
a test, or a reader with the JSON beside the page, can check each one.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.sub{color:#57606a;margin:0 0 16px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin:12px 0}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f0f2f4}td.n{text-align:right;
font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}.figs{display:flex;flex-wrap:wrap;gap:12px}
.figs figure{margin:0;flex:1 1 460px}figcaption{color:#57606a;font-size:12px}
.note{color:#57606a;font-size:12px}.tok{padding:1px 2px;border-radius:3px;margin:0 1px;
display:inline-block}code,pre{font:12px/1.4 ui-monospace,Consolas,monospace}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:240px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def lookup(record: Any, key: str) -> Any:
    """`record["a"]["b"][0]` for key "a.b.0"."""
    value = record
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not spec:
        spec = ".4g"
    return format(value, spec) if spec else str(value)


class Page:
    """Sections of HTML, rendered into one page by `render`."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title, self.subtitle = title, subtitle
        self.parts: list[str] = []

    # numbers from the results JSON, tagged with where they came from
    def num(self, record: dict, key: str, spec: str = "", source: str = "plmkit.json") -> str:
        try:
            value = lookup(record, key)
        except (KeyError, IndexError, TypeError):
            return "-"
        return (
            f'<span class="v" data-source="{esc(source)}" data-key="{esc(key)}" '
            f'data-value="{esc(json.dumps(value))}">{esc(fmt(value, spec))}</span>'
        )

    def section(self, title: str, *body: str) -> None:
        self.parts.append(f"<section><h2>{esc(title)}</h2>{''.join(body)}</section>")

    def render(self) -> str:
        sub = f'<p class="sub">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{esc(self.title)}</h1>{sub}{''.join(self.parts)}"
            '<p class="note">Written by plmkit (plm report); every tagged number comes from the '
            "run's results JSON.</p></main></body></html>\n"
        )


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """A table of already-escaped cells; columns from `numeric_from` on align right."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i >= numeric_from else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def kv_table(rows: Iterable[tuple[str, str]]) -> str:
    """Two columns: an escaped name, an already-escaped value."""
    return table(["", ""], ((esc(k), v) for k, v in rows), numeric_from=2).replace(
        "<tr><th></th><th></th></tr>", ""
    )


def figure(uri: str | None, caption: str) -> str:
    if uri is None:
        return f'<figure><p class="note">{esc(caption)}: nothing to plot</p></figure>'
    return (
        f'<figure><img src="{uri}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def figures(*items: str) -> str:
    return f'<div class="figs">{"".join(items)}</div>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def pre_json(value: Any) -> str:
    return f"<pre>{esc(json.dumps(value, indent=1, default=str))}</pre>"
