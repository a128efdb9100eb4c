"""`plm paradigms` in the report: the table of ways to use the pre-trained models, the
learning curve (mean and spread over seeds) and its figure, from `paradigms.json` and
`paradigms.png`."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from plmkit.report.page import Page, esc, figure, figures, kv_table, note, table

PARADIGMS_FILE = "paradigms.json"
PARADIGMS_PLOT = "paradigms.png"
ROW_COLUMNS = [
    ("train examples", "train_examples", ""),
    ("accuracy", "accuracy", ".4f"),
    ("± (seeds)", "accuracy_std", ".3f"),
    ("macro-F1", "macro_f1", ".4f"),
    ("train s", "train_seconds", ".1f"),
    ("examples / s", "examples_per_second", ".1f"),
    ("parameters", "parameters", ","),
]


def build(page: Page, run_dir: Path, record: dict[str, Any]) -> None:
    num = lambda key, spec="": page.num(record, key, spec, source=PARADIGMS_FILE)  # noqa: E731
    page.section(
        "Run",
        kv_table(
            [
                ("data", num("data.source")),
                ("split sizes", num("data.sizes")),
                ("seed", num("seed")),
                ("wall seconds", num("wall_seconds", ".0f")),
                ("load average at start / end", num("loadavg_start") + " / " + num("loadavg_now")),
                ("stage reached", num("stage")),
            ]
        ),
    )
    rows = [
        [esc(row["paradigm"]), esc(row["model"])]
        + [num(f"rows.{i}.{key}", spec) for _, key, spec in ROW_COLUMNS]
        for i, row in enumerate(record.get("rows", []))
    ]
    page.section(
        "Paradigms side by side",
        table(["paradigm", "model", *(name for name, _, _ in ROW_COLUMNS)], rows, numeric_from=2),
        note(
            "accuracy and macro-F1 on the test split; decoder rows on the stratified subset "
            "named by n_test in the JSON"
        ),
    )
    curve = [
        [esc(p["paradigm"]), esc(p["size"]), num(f"curve.{i}.train_examples"),
         num(f"curve.{i}.seeds"), num(f"curve.{i}.accuracy", ".4f"),
         num(f"curve.{i}.accuracy_std", ".3f"), num(f"curve.{i}.macro_f1", ".4f")]
        for i, p in enumerate(record.get("curve", []))
    ]  # fmt: skip
    plot = run_dir / PARADIGMS_PLOT
    uri = (
        "data:image/png;base64," + base64.b64encode(plot.read_bytes()).decode("ascii")
        if plot.is_file()
        else None
    )
    page.section(
        "Learning curve",
        table(["method", "size", "examples", "seeds", "accuracy", "±", "macro-F1"], curve, 2),
        figures(figure(uri, "test accuracy against labelled training examples")),
    )
