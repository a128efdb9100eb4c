"""metrics.py: the confusion matrix and the scores derived from it, streamed or at once."""

import numpy as np

from plmkit.metrics import ConfusionMatrix, classification_report, format_report

LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1]
PREDICTED = [0, 1, 0, 1, 1, 2, 0, 2, 2, 2]
NAMES = ["neg", "neu", "pos"]


def test_scores_by_hand():
    report = classification_report(LABELS, PREDICTED, NAMES)
    assert report["n"] == 10 and report["accuracy"] == 0.7
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 3]]
    neg = report["per_class"]["neg"]  # 2 right of 3 predicted, 2 of 3 true
    assert neg == {
        "precision": round(2 / 3, 6),
        "recall": round(2 / 3, 6),
        "f1": round(2 / 3, 6),
        "support": 3,
    }
    pos = report["per_class"]["pos"]  # 3 of 4 predicted, 3 of 4 true
    assert pos["precision"] == 0.75 and pos["recall"] == 0.75
    f1s = [2 / 3, 2 / 3, 0.75]
    assert abs(report["macro_f1"] - float(np.mean(f1s))) < 1e-6


def test_streaming_equals_all_at_once():
    streamed = ConfusionMatrix(3)
    for start in range(0, len(LABELS), 3):
        streamed.update(LABELS[start : start + 3], PREDICTED[start : start + 3])
    assert streamed.report(NAMES) == classification_report(LABELS, PREDICTED, NAMES)


def test_a_class_never_predicted_scores_zero():
    report = classification_report([0, 1, 1], [1, 1, 1], ["a", "b"])
    assert report["per_class"]["a"]["precision"] == 0.0 and report["per_class"]["a"]["f1"] == 0.0


def test_format_report_has_table_and_matrix():
    text = format_report(classification_report(LABELS, PREDICTED, NAMES))
    assert "accuracy  0.7000" in text and "confusion matrix" in text
    assert text.count("neu") >= 3
