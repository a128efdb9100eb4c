"""bench/workload.py: the benchmark's classifier, fine-tuned once from an encoder and cached."""

from __future__ import annotations

import json

import pytest

from plmkit.bench import workload

TEXTS = ["the best movie ever", "the worst film ever", "a great story", "a tedious mess"] * 3
LABELS = [1, 0, 1, 0] * 3


@pytest.fixture(autouse=True)
def small_world(tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(workload, "movie_sentences", lambda: (TEXTS, LABELS, TEXTS, LABELS))
    monkeypatch.setattr(workload, "TRAIN_SENTENCES", 8)  # 4 of the 12 left for calibration


def test_bench_classifier_is_made_once(tiny_bert_dir, tmp_path, monkeypatch):
    from plmkit.backends.calibration import CALIBRATION_FILE
    from plmkit.loading import load_classifier

    target = workload.bench_classifier(str(tiny_bert_dir))
    assert target == tmp_path / "cache" / "bench" / f"{tiny_bert_dir.name}-sentiment-13-v3"
    config = json.loads((target / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    calibration = (target / CALIBRATION_FILE).read_text().splitlines()
    assert len(calibration) == len(TEXTS) - 8
    model = load_classifier(str(target))  # a trained head, not a fresh one
    assert model.config.num_labels == 2
    monkeypatch.setattr(workload, "_finetune", lambda *a: pytest.fail("trained again"))
    assert workload.bench_classifier(str(tiny_bert_dir)) == target
