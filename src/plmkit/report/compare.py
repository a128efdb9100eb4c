"""Runs side by side: the arms of `plm compare` (from `compare.json`), and any two run
directories (`plm report RUN_A RUN_B`), as one table and one bar plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plmkit.paths import RESULTS_FILE
from plmkit.report import plots
from plmkit.report.page import Page, esc, figure, figures, kv_table, note, table

COMPARE_FILE = "compare.json"
ARM_ROWS = [
    ("test accuracy", "test.accuracy", ".4f"),
    ("test macro-F1", "test.macro_f1", ".4f"),
    ("validation accuracy", "validation.accuracy", ".4f"),
    ("validation macro-F1", "validation.macro_f1", ".4f"),
    ("fine-tuning seconds", "train_seconds", ".1f"),
]


def build(page: Page, run_dir: Path, record: dict[str, Any]) -> None:
    arms = record.get("arms", [])
    num = lambda key, spec="": page.num(record, key, spec, source=COMPARE_FILE)  # noqa: E731
    header = ["", *(esc(arm["model"]) for arm in arms)]
    rows = [
        [esc(name), *(num(f"arms.{i}.{key}", spec) for i in range(len(arms)))]
        for name, key, spec in ARM_ROWS
    ]
    rows.append([esc("origin"), *(num(f"arms.{i}.origin") for i in range(len(arms)))])
    chart = plots.bars(
        ["test accuracy", "test macro-F1"],
        {arm["model"]: [arm["test"]["accuracy"], arm["test"]["macro_f1"]] for arm in arms},
        "score",
        "Test split, same data, seed and recipe",
    )
    links = "".join(
        f'<li><a href="{esc(Path(arm["out"]).name)}/report.html">{esc(arm["model"])}</a>: '
        f"{esc(arm['out'])}</li>"
        for arm in arms
    )
    page.section(
        "Run",
        kv_table(
            [
                ("data", num("data")),
                ("seed (same split and head for every arm)", num("seed")),
                ("created", num("created")),
            ]
        ),
    )
    page.section(
        "Arms side by side",
        table(header, rows),
        figures(figure(chart, "test accuracy and macro-F1 per starting model")),
        f"<h3>Each arm's own report</h3><ul>{links}</ul>",
    )
    pretrained = [(i, arm) for i, arm in enumerate(arms) if arm.get("pretraining")]
    if pretrained:
        rows = [
            [
                esc(arm["model"]),
                num(f"arms.{i}.pretraining.before.loss", ".4f"),
                num(f"arms.{i}.pretraining.after.loss", ".4f"),
            ]
            for i, arm in pretrained
        ]
        page.section("Pre-training of the arms", table(["arm", "loss before", "after"], rows))


def _headline(kind: str) -> list[tuple[str, str, str]]:
    if kind == "finetune":
        return [
            ("model", "model.name", ""),
            ("test accuracy", "metrics.test.accuracy", ".4f"),
            ("test macro-F1", "metrics.test.macro_f1", ".4f"),
            ("validation accuracy", "metrics.validation.accuracy", ".4f"),
            ("training seconds", "training.seconds", ".1f"),
            ("samples / s", "training.samples_per_second", ""),
            ("steps", "training.steps", ""),
            ("seed", "seed", ""),
        ]
    if kind == "pretrain":
        return [
            ("model", "model.name", ""),
            ("task", "task", ""),
            ("loss before", "before.loss", ".4f"),
            ("loss after", "after.loss", ".4f"),
            ("tokens / s", "training.tokens_per_second", ""),
            ("steps", "training.steps", ""),
            ("wall seconds", "wall_seconds", ""),
            ("seed", "seed", ""),
        ]
    return [("arms", "arms", ""), ("data", "data", ""), ("seed", "seed", "")]


def side_by_side(page: Page, runs: list[tuple[Path, str, dict[str, Any]]]) -> None:
    """A table of the runs' headline figures (same rows where the kinds match), a bar plot
    of their test scores when they are fine-tuning runs, and each run's curves below."""
    from plmkit.report import common

    names = [_headline(kind) for _, kind, _ in runs]
    keys = list(dict.fromkeys(row for rows in names for row in rows))
    sources = [
        str(d / (COMPARE_FILE if kind == "compare" else RESULTS_FILE)) for d, kind, _ in runs
    ]
    rows = [
        [
            esc(name),
            *(
                page.num(rec, key, spec, source=src)
                for (_, _, rec), src in zip(runs, sources, strict=True)
            ),
        ]
        for name, key, spec in keys
        if name != "arms"
    ]
    page.section("Side by side", table(["", *(esc(d) for d, _, _ in runs)], rows))
    tuned = [(d, rec) for d, kind, rec in runs if kind == "finetune" and "test" in rec["metrics"]]
    if len(tuned) == len(runs):
        chart = plots.bars(
            ["test accuracy", "test macro-F1"],
            {
                str(d): [rec["metrics"]["test"]["accuracy"], rec["metrics"]["test"]["macro_f1"]]
                for d, rec in tuned
            },
            "score",
            "Test split",
        )
        page.section("Test scores", figures(figure(chart, "test accuracy and macro-F1 per run")))
    for d, kind, rec in runs:
        if kind != "compare":
            page.parts.append(f"<h2>{esc(d)}</h2>")
            common.curves_section(page, rec.get("training", {}).get("log_history", []))
    page.parts.append(note("each run's full report: RUN_DIR/report.html"))
