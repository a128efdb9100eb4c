"""The report's figures, drawn with matplotlib (Agg: no display needed) and returned as
`data:image/png;base64,...` URIs, so the page carries its images inside itself.

Each function takes plain lists / arrays and returns a URI, or None when there is nothing to
draw (a run that logged no step, a split without labels).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

DPI = 80
COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _uri(fig: Any) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def lines(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    logy: bool = False,
) -> str | None:
    """One line per named (x, y) series."""
    series = {k: v for k, v in series.items() if len(v[0])}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for i, (name, (x, y)) in enumerate(series.items()):
        marker = "o" if len(x) <= 12 else None
        ax.plot(x, y, label=name, color=COLORS[i % len(COLORS)], marker=marker, lw=1.5)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _uri(fig)


def histogram(counts: Sequence[int], edges: Sequence[float], xlabel: str, title: str) -> str | None:
    if not counts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    widths = np.diff(edges)
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=COLORS[0], edgecolor="white")
    ax.set(xlabel=xlabel, ylabel="texts", title=title)
    ax.grid(alpha=0.3, axis="y")
    return _uri(fig)


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> str | None:
    counts = np.asarray(matrix)
    if counts.size == 0:
        return None
    plt = _pyplot()
    size = 2.6 + 0.5 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    limit = counts.max() / 2 if counts.max() else 0
    for (i, j), value in np.ndenumerate(counts):
        ax.text(
            j, i, str(value), ha="center", va="center", color="white" if value > limit else "black"
        )
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _uri(fig)


def reliability(
    prob_true: Sequence[float], prob_pred: Sequence[float], counts: Sequence[int], title: str
) -> str | None:
    """Accuracy against confidence per bin (the diagonal is perfect calibration)."""
    if not len(prob_true):
        return None
    plt = _pyplot()
    fig, (ax, bottom) = plt.subplots(
        2, 1, figsize=(6, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], ls="--", color="#8c959f", lw=1, label="perfectly calibrated")
    ax.plot(prob_pred, prob_true, marker="o", color=COLORS[0], label="this model")
    ax.set(ylabel="accuracy", title=title, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    bottom.bar(prob_pred, counts, width=0.04, color=COLORS[0])
    bottom.set(xlabel="confidence (top-class probability)", ylabel="texts", xlim=(0, 1.02))
    return _uri(fig)


def bars(
    groups: Sequence[str], series: dict[str, Sequence[float]], ylabel: str, title: str
) -> str | None:
    """Grouped bars: one group per name in `groups`, one bar per series."""
    if not groups or not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        positions = x - 0.4 + width * (i + 0.5)
        drawn = ax.bar(positions, values, width, label=name, color=COLORS[i % len(COLORS)])
        ax.bar_label(drawn, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, groups, rotation=10)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _uri(fig)
