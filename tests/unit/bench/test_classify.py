"""`plm bench classify` on a tiny classifier: pipeline baseline, accuracy on the gold labels,
agreement with torch fp32."""

from __future__ import annotations

import re

import pytest

from plmkit.bench import BenchOptions
from plmkit.bench.classify import scenario

SENTENCES = [
    "the best movie ever , funny and moving",
    "the worst film ever , boring and dull",
    "a great story and gorgeous music",
    "a tedious mess , awful acting",
] * 3
LABELS = [1, 0, 1, 0] * 3


@pytest.fixture(autouse=True)
def small_world(tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(
        "plmkit.bench.classify.movie_sentences", lambda: (SENTENCES, LABELS, SENTENCES, LABELS)
    )


def test_classify_rows(tiny_classifier_dir):
    options = BenchOptions(quick=True, classifier=str(tiny_classifier_dir), all_engines=True)
    options.limits = {"matmul_fp32_gflops": 50.0}
    rows = [row.to_dict() for row in scenario(options)]
    baseline, *others = rows
    assert baseline["baseline"]
    assert baseline["name"] == 'transformers pipeline("text-classification") (defaults)'
    names = [r["name"] for r in others]
    assert "plmkit --backend torch-fp32 (sorted batches of 32)" in names
    accuracy = float(baseline["quality"].split()[1])
    fp32 = next(r for r in others if "torch-fp32" in r["name"])
    # the same fp32 model one text at a time or in sorted batches: the same labels
    assert fp32["quality"] == f"accuracy {accuracy:.2f}"
    for row in others:
        assert row["vs"] == baseline["name"] and row["unit"] == "texts/s"
        assert row["throughput"] > 0 and row["p95_ms"] >= row["p50_ms"] > 0
        if row is not fp32:
            assert re.fullmatch(
                r"accuracy [\d.]+ \([+-][\d.]+ vs fp32, same label [\d.]+%\)", row["quality"]
            ), row["quality"]
    assert fp32["limit"] > 0 and baseline["limit"] == fp32["limit"]  # both fp32
    assert sum("auto picks this" in r["note"] for r in others) <= 1
