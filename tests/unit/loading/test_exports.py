"""Converted copies: made once, atomically, keyed by the weights they came from."""

import os
import shutil

import pytest

from plmkit import loading
from plmkit.registry import resolve


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))


def test_convert_once_writes_once_and_never_leaves_half_a_copy(tmp_path):
    target = tmp_path / "out" / "onnx-int8"
    calls = []

    def write(tmp):
        calls.append(tmp)
        (tmp / "model.onnx").write_text("graph")

    assert loading.convert_once(target, "model.onnx", write) == target
    assert loading.convert_once(target, "model.onnx", write) == target
    assert len(calls) == 1 and (target / "model.onnx").read_text() == "graph"

    def broken(tmp):
        (tmp / "part").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        loading.convert_once(tmp_path / "out" / "ct2-int8", "model.bin", broken)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "ct2-int8.lock",
        "onnx-int8",
        "onnx-int8.lock",
    ]


def test_converted_dir_changes_when_the_weights_are_rewritten(tmp_path, tiny_bert_dir):
    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    spec = resolve(str(tmp_path / "m"))
    first = loading.converted_dir(spec, "onnx-embed", "int8")
    assert first == loading.converted_dir(spec, "onnx-embed", "int8")
    assert first != loading.converted_dir(spec, "onnx-embed", "fp32")
    assert first.parent.name.startswith("m-")
    weights = tmp_path / "m" / "model.safetensors"
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 10))
    assert loading.converted_dir(spec, "onnx-embed", "int8") != first


def test_gguf_requantized_checks_the_variant_and_needs_a_gguf(tiny_bert_dir):
    with pytest.raises(ValueError, match="q8_0"):
        loading.gguf_requantized(str(tiny_bert_dir), "q2_k")
    assert loading.gguf_requantized(str(tiny_bert_dir), "q8_0") is None


def test_exports_drop_the_softmax_nan_guards_with_the_same_results(
    tmp_path, tiny_bert_dir, monkeypatch
):
    """The exporter's Where(IsNaN(softmax)) guards are removed, and padded batches (one text
    much shorter than the other) give the same states as the guarded graph."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from plmkit.loading import exports

    path = loading.onnx_encoder_file(str(tiny_bert_dir), "embed", "fp32")
    guarded = tmp_path / "guarded.onnx"
    tokenizer = loading.load_tokenizer(resolve(str(tiny_bert_dir)))
    with monkeypatch.context() as patch:
        patch.setattr(exports, "drop_softmax_nan_guards", lambda graph: 0)
        exports._export_onnx(resolve(str(tiny_bert_dir)), "embed", guarded, tokenizer)
    kinds = [n.op_type for n in onnx.load(str(guarded)).graph.node]
    assert kinds.count("IsNaN") > 0  # the exporter writes them
    assert "IsNaN" not in [n.op_type for n in onnx.load(str(path)).graph.node]
    batch = tokenizer(["a", "a much longer text than the first one"], padding=True)
    feeds = {k: np.array(batch[k], np.int64) for k in ("input_ids", "attention_mask")}
    (without,) = ort.InferenceSession(str(path)).run(None, feeds)
    (with_guards,) = ort.InferenceSession(str(guarded)).run(None, feeds)
    np.testing.assert_array_equal(without, with_guards)
    assert exports.drop_softmax_nan_guards(onnx.load(str(guarded)).graph) == kinds.count("IsNaN")
