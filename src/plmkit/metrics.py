"""Classification metrics, accumulated batch by batch so memory stays flat in dataset size.

`ConfusionMatrix` is the only state evaluation keeps: a (K, K) integer table updated per batch
(no list of all logits). Accuracy, macro-F1 and per-class precision / recall / F1 come from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class ConfusionMatrix:
    """counts[true, predicted] over everything passed to `update`."""

    def __init__(self, num_labels: int) -> None:
        self.counts = np.zeros((num_labels, num_labels), dtype=np.int64)

    def update(self, labels: Sequence[int] | np.ndarray, predictions: Sequence[int] | np.ndarray):
        labels = np.asarray(labels, dtype=np.int64)
        predictions = np.asarray(predictions, dtype=np.int64)
        k = self.counts.shape[0]
        self.counts += np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)
        return self

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def accuracy(self) -> float:
        return float(np.trace(self.counts) / self.n) if self.n else 0.0

    def per_class(self) -> dict[str, np.ndarray]:
        """precision, recall, f1 and support per class (0 where a class is never predicted
        or never present, as scikit-learn's zero_division=0)."""
        true_positive = np.diag(self.counts).astype(float)
        predicted = self.counts.sum(axis=0).astype(float)
        support = self.counts.sum(axis=1).astype(float)
        precision = np.divide(
            true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0
        )
        recall = np.divide(
            true_positive, support, out=np.zeros_like(true_positive), where=support > 0
        )
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
        return {"precision": precision, "recall": recall, "f1": f1, "support": support}

    def macro_f1(self) -> float:
        return float(self.per_class()["f1"].mean())

    def report(self, label_names: Sequence[str]) -> dict[str, Any]:
        """The JSON `plm evaluate` prints: accuracy, macro_f1, n, per_class, confusion_matrix."""
        scores = self.per_class()
        return {
            "accuracy": round(self.accuracy(), 6),
            "macro_f1": round(self.macro_f1(), 6),
            "n": self.n,
            "labels": list(label_names),
            "per_class": {
                name: {
                    "precision": round(float(scores["precision"][i]), 6),
                    "recall": round(float(scores["recall"][i]), 6),
                    "f1": round(float(scores["f1"][i]), 6),
                    "support": int(scores["support"][i]),
                }
                for i, name in enumerate(label_names)
            },
            "confusion_matrix": self.counts.tolist(),
        }


def classification_report(
    labels: Sequence[int], predictions: Sequence[int], label_names: Sequence[str]
) -> dict[str, Any]:
    """All metrics at once for labels and predictions already in memory."""
    return ConfusionMatrix(len(label_names)).update(labels, predictions).report(label_names)


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table: accuracy, macro-F1, per-class scores, the confusion matrix."""
    names = report["labels"]
    width = max(8, *(len(n) for n in names))
    lines = [
        f"accuracy  {report['accuracy']:.4f}   macro-F1  {report['macro_f1']:.4f}   "
        f"n  {report['n']}",
        "",
        f"{'class':{width}}  precision  recall     f1  support",
    ]
    for name in names:
        c = report["per_class"][name]
        lines.append(
            f"{name:{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:.4f}  "
            f"{c['support']:7d}"
        )
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append(" " * width + "  " + "  ".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, report["confusion_matrix"], strict=True):
        lines.append(f"{name:{width}}  " + "  ".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)
