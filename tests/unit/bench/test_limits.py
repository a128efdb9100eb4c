"""bench/limits.py: the machine limits turned into each row's ceiling."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from plmkit.bench.limits import (
    decoder_limit,
    decoder_parameters,
    dtype_of,
    encoder_flops_per_text,
    encoder_limit,
)
from plmkit.bench.options import BenchOptions


def test_dtype_of_backend_names():
    assert [dtype_of(n) for n in ("torch-bf16", "onnx-int8", "ct2-int8", "torch-fp32")] == [
        "bf16", "int8", "int8", "fp32"
    ]  # fmt: skip
    assert dtype_of("(defaults)") == "fp32"


def test_encoder_limit_from_the_dtype_gflops():
    config = SimpleNamespace(hidden_size=4, num_hidden_layers=2, intermediate_size=8)
    # per layer 4*16 + 2*32 = 128 per token; 2 layers x (128*10 + 2*4*100) x 2 = 8320
    assert encoder_flops_per_text(config, 10.0) == 8320
    options = BenchOptions(limits={"matmul_int8_gflops": 8.32})
    assert encoder_limit(options, "onnx-int8", config, 10.0) == pytest.approx(1e6)
    assert encoder_limit(options, "torch-fp32", config, 10.0) is None  # not measured
    # the last layer for the first token only: layer 1 whole (1280 + 800), layer 2 keys and
    # values for 10 tokens (2*16*10), the rest for one (128 - 32), its one query's scores
    # and sum over 10 (2*4*10): 2 x (2080 + 496)
    assert encoder_flops_per_text(config, 10.0, first_token=True) == 5152


def test_decoder_parameters_match_a_real_model(tiny_llama_dir):
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    counted = sum(p.numel() for p in model.parameters() if p.dim() > 1)  # no norms
    assert decoder_parameters(AutoConfig.from_pretrained(tiny_llama_dir)) == counted


def test_decoder_limit_is_bandwidth_over_weight_bytes():
    options = BenchOptions(limits={"memory_bandwidth_gbs": 8.0})
    assert decoder_limit(options, "torch-fp32", "unused", 1000) == pytest.approx(2e6)
    assert decoder_limit(options, "torch-bf16", "unused", 1000) == pytest.approx(4e6)
    assert decoder_limit(BenchOptions(), "torch-fp32", "unused", 1000) is None


def test_limits_measured_again_raise_the_ceilings_that_rose():
    """At a run's end each limit becomes the highest of its measurements, and the rows
    computed from it follow; slower later measurements change nothing."""
    from plmkit.bench.limits import raise_limits

    encode = {
        "throughput": 220.0,
        "limit": 200.0,
        "of_limit": 1.1,
        "limit_from": "matmul_fp32_gflops",
    }
    decode = {
        "throughput": 50.0,
        "limit": 100.0,
        "of_limit": 0.5,
        "limit_from": "memory_bandwidth_gbs",
    }
    baseline = {"throughput": 10.0, "limit": None, "of_limit": None, "limit_from": None}
    report = {
        "limits": {"matmul_fp32_gflops": 100.0, "memory_bandwidth_gbs": 10.0},
        "scenarios": {"encode": {"rows": [encode, baseline]}, "generate": {"rows": [decode]}},
    }
    later = [
        {"matmul_fp32_gflops": 120.0, "memory_bandwidth_gbs": 5.0},
        {"matmul_fp32_gflops": 150.0},
    ]
    raise_limits(report, later)
    assert report["limits"] == {"matmul_fp32_gflops": 150.0, "memory_bandwidth_gbs": 10.0}
    assert report["limits_measured"] == {
        "start": {"matmul_fp32_gflops": 100.0, "memory_bandwidth_gbs": 10.0},
        "later": later,
    }
    assert encode["limit"] == 300.0 and encode["of_limit"] == pytest.approx(0.733, abs=1e-3)
    assert decode["limit"] == 100.0 and decode["of_limit"] == 0.5
    assert baseline["limit"] is None
