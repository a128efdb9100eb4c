"""The report of a fine-tuning run (`plm finetune`): data, curves, held-out results, the most
confident errors and which tokens drove them.

Reads the run directory only: `plmkit.json` (every number shown), `test_predictions.jsonl`
(the held-out split's rows with probabilities, written by the recipe in the same pass as the
metrics) and, for the attribution heat maps, the saved model through
`plmkit.pipelines.explain` (Captum's LayerIntegratedGradients on the word embeddings).
Per-class scores are recomputed from the predictions with scikit-learn as a check, and the
reliability curve is scikit-learn's `calibration_curve`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from plmkit.report import common, plots
from plmkit.report.page import Page, esc, figure, figures, kv_table, note, table

PREDICTIONS_FILE = "test_predictions.jsonl"
ERRORS_SHOWN = 8
EXPLAINED = 3
EXPLAIN_STEPS = 24


def read_predictions(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / PREDICTIONS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def build(page: Page, run_dir: Path, record: dict[str, Any], explain: bool = True) -> None:
    labels = record.get("labels", [])
    rows = read_predictions(run_dir)
    summary_section(page, record)
    data_section(page, record)
    common.curves_section(page, record.get("training", {}).get("log_history", []))
    for split in ("validation", "test"):
        if split in record.get("metrics", {}):
            results_section(page, record, split, labels)
    if rows:
        split = rows[0]["split"]
        calibration_section(page, rows, labels, split)
        errors = confident_errors(rows, labels)
        errors_section(page, errors, labels, split)
        attribution_section(page, run_dir, errors[:EXPLAINED] if explain else [])
    else:
        page.section("Predictions", note(f"no {PREDICTIONS_FILE} in the run directory"))
    throughput_section(page, record)
    common.run_section(page, record)


def summary_section(page: Page, record: dict[str, Any]) -> None:
    split = "test" if "test" in record.get("metrics", {}) else "validation"
    key = f"metrics.{split}"
    page.section(
        "Summary",
        f"<p>{esc(split)} accuracy <b>{page.num(record, f'{key}.accuracy', '.4f')}</b>, "
        f"macro-F1 <b>{page.num(record, f'{key}.macro_f1', '.4f')}</b> on "
        f"{page.num(record, f'{key}.n')} held-out texts; {page.num(record, 'training.steps')} "
        f"steps in {page.num(record, 'training.seconds')} s "
        f"({page.num(record, 'training.samples_per_second')} samples/s, "
        f"{page.num(record, 'dtype')}), model {page.num(record, 'model.name')}, seed "
        f"{page.num(record, 'seed')}</p>",
    )


def data_section(page: Page, record: dict[str, Any]) -> None:
    data = record.get("data", {})
    summary = record.get("data_summary", {})
    splits = list(data.get("sizes", {}))
    counts = summary.get("label_counts", {})
    labels = record.get("labels", [])
    balance = table(
        ["split", "rows", *labels],
        (
            [esc(s), page.num(record, f"data.sizes.{s}")]
            + [page.num(record, f"data_summary.label_counts.{s}.{label}") for label in labels]
            for s in splits
        ),
    )
    lengths = summary.get("train_token_lengths")
    hist = (
        plots.histogram(lengths["counts"], lengths["bin_edges"], "tokens per text", "Token lengths")
        if lengths
        else None
    )
    padding = [
        ("max_length (from the data)", page.num(record, "max_length")),
        ("padding share of batch tokens", page.num(record, "padding.padding_share", ".1%")),
        ("padded tokens (dynamic padding)", page.num(record, "padding.padded_tokens")),
        ("padding everything to", page.num(record, "padding.fixed_length")),
        ("tokens when padding everything", page.num(record, "padding.fixed_length_tokens")),
        ("padding waste avoided", page.num(record, "padding.waste_avoided", ".1%")),
    ]
    page.section(
        "Data",
        f"<p>source {page.num(record, 'data.source')}, split seed "
        f"{page.num(record, 'data.seed')}</p>",
        balance if counts else note("no label counts in plmkit.json"),
        figures(
            figure(hist, "token length of the training texts"),
            f"<figure><h3>Padding</h3>{kv_table(padding)}</figure>",
        ),
        note(
            f"mean {lengths['mean']} tokens, longest {lengths['max']}" if lengths else "",
        ),
    )


def results_section(page: Page, record: dict[str, Any], split: str, labels: list[str]) -> None:
    key = f"metrics.{split}"
    report = record["metrics"][split]
    per_class = table(
        ["class", "precision", "recall", "F1", "support"],
        (
            [esc(label)]
            + [
                page.num(record, f"{key}.per_class.{label}.{m}", "" if m == "support" else ".4f")
                for m in ("precision", "recall", "f1", "support")
            ]
            for label in labels
        ),
    )
    matrix = plots.confusion(report.get("confusion_matrix", []), labels, f"{split}: confusion")
    page.section(
        f"Results on the {split} split",
        f"<p>accuracy <b>{page.num(record, f'{key}.accuracy', '.4f')}</b>, macro-F1 "
        f"<b>{page.num(record, f'{key}.macro_f1', '.4f')}</b>, "
        f"{page.num(record, f'{key}.n')} texts</p>",
        figures(
            figure(matrix, "rows: true label, columns: predicted"),
            f"<figure><h3>Per class</h3>{per_class}</figure>",
        ),
    )


def _arrays(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray([r["probabilities"] for r in rows], dtype=float)  # (N, K)
    return np.asarray([r["label"] for r in rows]), probabilities


def calibration_section(
    page: Page, rows: list[dict[str, Any]], labels: list[str], split: str
) -> None:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_fscore_support

    truth, probabilities = _arrays(rows)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = (predicted == truth).astype(int)
    bins = 10
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
    edges = np.linspace(0, 1, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence)  # as calibration_curve bins
    counts = [int(n) for n in np.bincount(which, minlength=bins) if n]
    error = float(np.sum(np.abs(prob_true - prob_pred) * np.asarray(counts)) / len(rows))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(range(len(labels))), zero_division=0
    )
    check = table(
        ["class", "precision", "recall", "F1", "support"],
        (
            [esc(name), f"{precision[i]:.4f}", f"{recall[i]:.4f}", f"{f1[i]:.4f}", str(support[i])]
            for i, name in enumerate(labels)
        ),
    )
    page.section(
        f"Calibration ({split} split)",
        figures(
            figure(
                plots.reliability(prob_true, prob_pred, counts, "Reliability"),
                f"accuracy per confidence bin; expected calibration error {error:.3f}",
            ),
            "<figure><h3>scikit-learn on test_predictions.jsonl</h3>"
            f"{check}{note('recomputed from the saved predictions: equal to the table above')}"
            "</figure>",
        ),
    )


def confident_errors(rows: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Wrong predictions, most confident first."""
    wrong = []
    for row in rows:
        p = row["probabilities"]
        best = int(np.argmax(p))
        if best != row["label"]:
            wrong.append({**row, "predicted": best, "confidence": p[best]})
    return sorted(wrong, key=lambda r: -r["confidence"])


def errors_section(page: Page, errors: list[dict[str, Any]], labels: list[str], split: str) -> None:
    rows = (
        [
            esc(e["text"]),
            esc(labels[e["label"]]),
            esc(labels[e["predicted"]]),
            "  ".join(f"{esc(n)} {p:.3f}" for n, p in zip(labels, e["probabilities"], strict=True)),
        ]
        for e in errors[:ERRORS_SHOWN]
    )
    page.section(
        f"Most confident errors ({split} split)",
        table(["text", "true", "predicted", "probabilities"], rows, numeric_from=4)
        if errors
        else note("no errors"),
        note(
            f"{len(errors)} errors in all; the {min(len(errors), ERRORS_SHOWN)} shown are the "
            "ones the model was surest of"
        ),
    )


def _heat(tokens: list[str], special: list[bool], scores: list[float]) -> str:
    top = max((abs(s) for s in scores), default=0.0) or 1.0
    spans = []
    for token, is_special, score in zip(tokens, special, scores, strict=True):
        if is_special:
            continue
        alpha = min(1.0, abs(score) / top)
        color = f"rgba(207,34,46,{alpha:.2f})" if score > 0 else f"rgba(9,105,218,{alpha:.2f})"
        spans.append(
            f'<span class="tok" style="background:{color}" title="{score:+.3f}">{esc(token)}</span>'
        )
    return "".join(spans)


def attribution_section(page: Page, run_dir: Path, errors: list[dict[str, Any]]) -> None:
    if not errors:
        return
    try:
        from plmkit.pipelines.explain import explain
    except ImportError as missing:  # Captum or the explain pipeline not installed
        page.section("Token attribution", note(f"not drawn: {missing}"))
        return
    explanations = explain([e["text"] for e in errors], str(run_dir), steps=EXPLAIN_STEPS)
    blocks = []
    for found in explanations:
        blocks.append(
            f"<p>{_heat(found.tokens, found.special, found.attributions)}</p>"
            + note(
                f"explains {found.label} (p={found.probabilities[found.label]:.3f}); logit "
                f"{found.logit:.3f} vs baseline {found.baseline_logit:.3f} "
                f"([{found.baseline_token}] tokens); convergence delta {found.delta:.2e}, "
                f"{found.steps} steps"
            )
        )
    page.section(
        "Token attribution for the top errors",
        "".join(blocks),
        note(
            "integrated gradients (Captum LayerIntegratedGradients on the word embeddings, "
            "plmkit.pipelines.explain) of the predicted label's logit: red tokens pushed "
            "towards the wrong prediction, blue ones against it; hover for the value"
        ),
    )


def throughput_section(page: Page, record: dict[str, Any]) -> None:
    keys = [
        ("training wall seconds", "training.seconds"),
        ("seconds inside steps", "training.train_step_seconds"),
        ("samples / s", "training.samples_per_second"),
        ("real tokens / s", "training.real_tokens_per_second"),
        ("optimizer steps", "training.steps"),
        ("epochs", "training.epochs"),
        ("final training loss", "training.train_loss"),
        ("best checkpoint step", "training.best_checkpoint_step"),
    ]
    page.section("Throughput and time", common.throughput_rows(page, record, keys))
