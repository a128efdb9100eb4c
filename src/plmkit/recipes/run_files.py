"""What a fine-tuning run leaves beside its model for `plmkit.report`: the held-out split's
predictions with probabilities, and a data summary (class balance, token lengths).

`split_predictions` runs the classifier once over a split and gives both its confusion matrix
(the metrics) and the rows of `predictions_jsonl` (text, true label, probabilities), so the
report's confusion matrix and errors are the same pass as `plmkit.json`'s metrics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from plmkit.metrics import ConfusionMatrix
from plmkit.pipelines.classify import probability_batches

PREDICTIONS_FILE = "test_predictions.jsonl"
HISTOGRAM_BINS = 30


def split_predictions(
    forward: Any,
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    num_labels: int,
    batch_size: int,
) -> tuple[ConfusionMatrix, np.ndarray]:
    """(confusion matrix, (N, K) probabilities in input order) of one pass over `ids`."""
    matrix = ConfusionMatrix(num_labels)
    probabilities = np.zeros((len(ids), num_labels), dtype=np.float32)
    for batch, batch_probabilities in probability_batches(forward, tokenizer, ids, batch_size):
        probabilities[batch] = batch_probabilities
        matrix.update([labels[i] for i in batch], batch_probabilities.argmax(axis=-1))
    return matrix, probabilities


def predictions_jsonl(
    split: str, texts: Sequence[str], labels: Sequence[int], probabilities: np.ndarray
) -> str:
    """One JSON line per row: split, text, true label id, class probabilities (6 decimals)."""
    lines = [
        json.dumps(
            {
                "split": split,
                "text": text,
                "label": int(label),
                "probabilities": [round(float(p), 6) for p in row],
            },
            ensure_ascii=False,
        )
        for text, label, row in zip(texts, labels, probabilities, strict=True)
    ]
    return "\n".join(lines) + "\n"


def data_summary(
    splits: dict[str, Any], label_names: list[str], train_lengths: Sequence[int]
) -> dict[str, Any]:
    """Rows of each label per split and a histogram of the training texts' token lengths."""
    counts = {
        name: {
            label: int(n)
            for label, n in zip(
                label_names,
                np.bincount(np.asarray(split.labels, dtype=np.int64), minlength=len(label_names)),
                strict=True,
            )
        }
        for name, split in splits.items()
        if split.labels is not None
    }
    lengths = np.asarray(train_lengths, dtype=np.int64)
    hist, edges = np.histogram(lengths, bins=min(HISTOGRAM_BINS, max(1, int(np.ptp(lengths)) + 1)))
    return {
        "label_counts": counts,
        "train_token_lengths": {
            "counts": hist.tolist(),
            "bin_edges": [round(float(e), 2) for e in edges],
            "mean": round(float(lengths.mean()), 2),
            "max": int(lengths.max()),
        },
    }


def write_run_report(out: Any, emit: Any) -> None:
    """Write `out/report.html` and tell `emit`. The model is saved by then: a report that
    fails becomes a `ReportWritten` event with the error (`plm report OUT` retries), not a
    failed run. Under torchrun only rank 0 writes it."""
    from plmkit.training.distributed import is_main_process
    from plmkit.training.events import ReportWritten

    if not is_main_process():
        return

    try:
        from plmkit.report import write_report

        path = write_report(out)
    except Exception as error:  # noqa: BLE001 - the run's model and JSON are already saved
        emit(ReportWritten(path=None, error=f"{type(error).__name__}: {error}"))
        return
    emit(ReportWritten(path=str(path)))
