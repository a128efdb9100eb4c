"""training/provenance.py: the provenance record, and a model directory whose plmkit.json
lands last."""

from __future__ import annotations

import json

from plmkit.paths import RESULTS_FILE
from plmkit.registry import resolve
from plmkit.training import model_revision, run_record, save_model_dir
from plmkit.training.provenance import versions


def test_run_record_carries_provenance():
    record = run_record(seed=3, spec=resolve("minilm"), data_hash="abc", bf16=False, task="x")
    assert record["seed"] == 3 and record["model"]["revision"] == "0.1.0"
    assert record["versions"]["transformers"] and record["dtype"] == "fp32"
    assert record["data_hash"] == "abc" and record["task"] == "x"
    assert set(record["hardware"]) == {"cpu", "torch_threads", "cuda"}


def test_versions_name_missing_packages():
    found = versions()
    assert found["torch"] != "not installed" and found["python"].count(".") == 2


def test_save_model_dir_writes_record_last(tiny_classifier, tmp_path):
    model, tokenizer = tiny_classifier
    out = save_model_dir(model, tokenizer, tmp_path / "out", {"seed": 1}, {"notes.txt": "hi"})
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert json.loads((out / RESULTS_FILE).read_text()) == {"seed": 1}
    assert (out / "notes.txt").read_text() == "hi"
    assert not any(p.name.startswith(".tmp") for p in out.iterdir())


def test_model_revision_of_a_local_dir_is_the_recorded_one(tiny_classifier, tmp_path):
    model, tokenizer = tiny_classifier
    out = save_model_dir(model, tokenizer, tmp_path / "m", {"model": {"revision": "abc123"}})
    assert model_revision(resolve(str(out))) == "abc123"
    (out / RESULTS_FILE).write_text("not json")
    assert model_revision(resolve(str(out))) is None
