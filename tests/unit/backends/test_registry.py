"""Backend names: aliases, what --backend accepts per kind, and llama.cpp build checks."""

from __future__ import annotations

from plmkit import backends
from plmkit.backends import registry

ENCODERS = [
    "torch-fp32", "torch-bf16", "torch-int8", "onnx-fp32", "onnx-int8", "onnx-int8-partial"
]  # fmt: skip
DECODERS = [
    "torch-fp32", "torch-bf16", "ct2-int8", "llama-cpp", "llama-cpp-q8", "llama-cpp-bf16",
    "llama-cpp-f16",
]  # fmt: skip


def test_aliases():
    assert registry.canonical("bf16", "encoder") == "torch-bf16"
    assert registry.canonical("int8", "encoder") == "torch-int8"
    assert registry.canonical("int8", "decoder") == "ct2-int8"
    assert registry.canonical("LLAMA", "decoder") == "llama-cpp"
    assert registry.canonical(" Auto ", "decoder") == "auto"


def test_backend_lists_per_kind_start_with_auto():
    assert registry.names("encoder") == ENCODERS
    assert registry.names("decoder") == DECODERS
    assert backends.ENCODER_BACKENDS == ("auto", *ENCODERS) == backends.choices("encoder")
    assert backends.DECODER_BACKENDS == ("auto", *DECODERS) == backends.choices("decoder")


def test_available_says_installed_or_why_not(pretend_missing):
    pretend_missing("onnxruntime")
    found = backends.available("encoder")
    assert list(found) == ENCODERS
    assert found["torch-fp32"] == found["torch-int8"] == "installed"
    for name in ("onnx-fp32", "onnx-int8"):
        assert found[name].startswith("onnxruntime not installed")
        assert "plmkit[fast]" in found[name]
    assert list(backends.available("decoder")) == DECODERS


def test_a_llama_build_for_another_cpu_is_reported_not_run():
    info = "CPU : SSE3 = 1 | AVX2 = 1 | FMA = 1 | AVX512 = 1 | AVX512_BF16 = 1 | OPENMP = 1 |"
    zen3 = {"avx2", "fma", "f16c", "sse3"}
    assert registry.unsupported_features(info, zen3) == ["AVX512", "AVX512_BF16"]
    assert registry.unsupported_features(info, zen3 | {"avx512f", "avx512_bf16"}) == []
    assert registry.unsupported_features(None, zen3, -4) == ["a crash on import (exit -4)"]
