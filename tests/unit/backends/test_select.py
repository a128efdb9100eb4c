"""`auto`: measured once against fp32, cached, and rejecting backends that disagree."""

from __future__ import annotations

import numpy as np
import pytest

from plmkit import backends
from plmkit.backends import select


def test_auto_falls_back_with_a_note_when_an_engine_is_missing(
    tiny_bert_dir, caplog, pretend_missing
):
    pretend_missing("onnxruntime")
    with caplog.at_level("INFO", logger="plmkit"):
        backend = backends.load_encoder_backend(str(tiny_bert_dir), "embed", "auto")
    assert backend.name.startswith("torch-")
    assert "onnx-int8 skipped: onnxruntime not installed" in caplog.text


def test_auto_picks_a_measured_backend_that_agrees_and_caches_it(monkeypatch, tiny_bert_dir):
    name = backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto")
    cached = select._read_cache()
    (entry,) = cached.values()
    assert entry["name"] == name
    assert entry["measured"][name]["ok"]
    assert entry["measured"]["torch-fp32"]["quality"] == pytest.approx(1.0)

    def no_building(*_):
        raise AssertionError("a cached decision must not measure again")

    monkeypatch.setattr(backends, "build_encoder", no_building)
    assert backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto") == name
    backends.unload_all()  # a new process: the decision is read from the cache file
    assert backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto") == name


def test_the_decision_is_remade_when_the_weights_change(tiny_bert_dir, tmp_path):
    import os
    import shutil

    model = shutil.copytree(tiny_bert_dir, tmp_path / "m")
    backends.choose(str(model), "encoder", "embed", "auto")
    weights = model / "model.safetensors"
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 10))
    backends.unload_all()
    backends.choose(str(model), "encoder", "embed", "auto")
    assert len(select._read_cache()) == 2


def _stand_in_for_int8(monkeypatch, encoder_class) -> None:
    """`auto` builds `encoder_class` (an fp32 TorchEncoder subclass) as its torch-int8."""
    real_build = backends.build_encoder

    def build(model, task, name):
        if name == "torch-int8":
            return encoder_class(model, task, "fp32")
        return real_build(model, task, name)

    monkeypatch.setattr(backends, "build_encoder", build)


def test_auto_rejects_a_backend_that_disagrees(monkeypatch, tiny_bert_dir):
    """A candidate whose output is noise is measured, rejected, and not chosen."""
    from plmkit.backends.torch_backend import TorchEncoder

    class Broken(TorchEncoder):
        def forward(self, input_ids, attention_mask):
            out = super().forward(input_ids, attention_mask)
            return np.random.default_rng(0).normal(size=out.shape).astype(np.float32)

    _stand_in_for_int8(monkeypatch, Broken)
    choice_name = backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto")
    (entry,) = select._read_cache().values()
    assert entry["measured"]["torch-int8"]["ok"] is False
    assert choice_name != "torch-int8"


def test_auto_classify_holds_accuracy_on_labelled_rows(monkeypatch, tiny_classifier_dir):
    """With calibration.jsonl, a backend that flips labels is judged by accuracy change."""
    from plmkit.backends.calibration import labelled_rows
    from plmkit.backends.torch_backend import TorchEncoder

    texts, _ = labelled_rows(tiny_classifier_dir)

    class Flipper(TorchEncoder):
        """fp32, except that it flips one in ten predictions: 10% of labels change."""

        def forward(self, input_ids, attention_mask):
            out = super().forward(input_ids, attention_mask)
            out[::10] = out[::10, ::-1]
            return out

    _stand_in_for_int8(monkeypatch, Flipper)
    choice_name = backends.choose(str(tiny_classifier_dir), "encoder", "classify", "auto")
    (entry,) = select._read_cache().values()
    fp32, flipped = entry["measured"]["torch-fp32"], entry["measured"]["torch-int8"]
    assert fp32["accuracy"] > 0.9 and flipped["accuracy"] < fp32["accuracy"] - 0.05
    assert flipped["ok"] is False and choice_name != "torch-int8"
    assert any(f"{len(texts)} labelled held-out rows" in note for note in entry["notes"])
    assert any("torch-int8 rejected: accuracy" in note for note in entry["notes"])
