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
