"""The learning curve (mean and spread over seeds) with the rows that use no labels, as one
matplotlib figure (Agg, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_paradigms(record: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for method, marker in (("fine-tuned", "o"), ("linear head", "s"), ("SetFit", "^")):
        points = sorted(
            (p for p in record["curve"] if p["paradigm"] == method),
            key=lambda p: p["train_examples"],
        )
        if not points:
            continue
        x = [p["train_examples"] for p in points]
        y = [p["accuracy"] for p in points]
        spread = [p.get("accuracy_std", 0.0) for p in points]
        axes.errorbar(x, y, yerr=spread, marker=marker, capsize=3, label=method)
    for row, style in zip(
        (r for r in record["rows"] if r["train_examples"] == 0 or "decoder" in r["paradigm"]),
        (":", "--", "-."),
        strict=False,
    ):
        axes.axhline(row["accuracy"], linestyle=style, color="grey", linewidth=1)
        axes.annotate(
            row["paradigm"],
            (1, row["accuracy"]),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="dimgrey",
        )
    axes.set_xscale("log")
    axes.set_xlabel("labelled training examples (log scale)")
    axes.set_ylabel("test accuracy")
    axes.set_title(f"{record['data']['source']}: accuracy vs labelled examples")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
