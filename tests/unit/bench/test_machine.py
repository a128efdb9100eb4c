"""bench/machine.py: versions and the measured limits."""

from __future__ import annotations

import platform

from plmkit.bench import machine


def test_versions_name_every_distribution():
    versions = machine.versions()
    assert list(versions) == ["python", *machine.DISTRIBUTIONS]
    assert versions["python"] == platform.python_version()
    assert versions["torch"] != "not installed"


def test_versions_of_a_missing_distribution(monkeypatch):
    monkeypatch.setattr(machine, "DISTRIBUTIONS", ("torch", "surely-not-installed-plmkit-x"))
    assert machine.versions()["surely-not-installed-plmkit-x"] == "not installed"


def test_quick_limits_are_positive_and_rounded():
    limits = machine.limits(quick=True)
    assert limits["memory_bandwidth_gbs"] > 0 and limits["matmul_fp32_gflops"] > 0
    assert all(round(v, 1) == v for v in limits.values())


def test_int8_limit_is_the_engines_int8_kernels(monkeypatch):
    """int8's limit is the faster of torch's dynamic int8 Linear and ONNX Runtime's
    quantised MatMul (not torch._int_mm, which no engine runs); fp32 likewise."""
    calls = []

    def fake_onnx(size, int8=False):
        calls.append(("onnx", size, int8))
        return 40.0 if int8 else 5.0

    monkeypatch.setattr(machine, "onnx_matmul_gflops", fake_onnx)
    monkeypatch.setattr(
        machine, "matmul_gflops", lambda dtype, size: {"int8": 30.0}.get(dtype, 9.0)
    )
    limits = machine.limits(quick=True)
    assert limits["matmul_int8_gflops"] == 40.0 and limits["matmul_fp32_gflops"] == 9.0
    assert limits["matmul_bf16_gflops"] == 9.0
    assert calls == [("onnx", 1024, False), ("onnx", 1024, True)]


def test_onnx_int8_matmul_is_measured():
    import pytest

    pytest.importorskip("onnxruntime")
    assert machine.onnx_matmul_gflops(128, int8=True) > 0
    assert machine.onnx_matmul_gflops(128) > 0


def test_best_stops_early_on_a_slow_call():
    calls = []

    def slow():
        calls.append(1)

    assert machine._best(slow, 3, budget=-1.0) >= 0
    assert len(calls) == 1  # the warm-up was over the budget: no repeats


def test_onnx_limit_is_its_fastest_shape(monkeypatch):
    """ONNX Runtime's matmul limit is the fastest of the square product and an encoder's
    feed-forward shapes (on a Zen 4 the square one ran 131-143 GFLOP/s, MiniLM's 166-200),
    each small product repeated to MIN_FLOP_PER_CALL."""
    import pytest

    small = (8, 16, 32)
    seconds = {(64, 64, 64): 1.0, small: 0.001}
    made = []

    class Session:
        def __init__(self, shape):
            self.shape = shape

    monkeypatch.setattr(machine, "ENCODER_SHAPES", (small,))
    monkeypatch.setattr(
        machine, "_onnx_matmul_session", lambda shape, int8: made.append(shape) or Session(shape)
    )
    monkeypatch.setattr(machine, "_best", lambda run, repeats: seconds[run.args[0].shape])
    gflops = machine.onnx_matmul_gflops(64)
    assert made == [(64, 64, 64), small]
    flop = 2 * 8 * 16 * 32
    repeats = round(machine.MIN_FLOP_PER_CALL / flop)
    assert gflops == pytest.approx(flop * repeats / 0.001 / 1e9)


def test_bandwidth_is_a_read_of_one_buffer_advised_as_huge_pages(monkeypatch):
    """The decoders' limit reads memory as they read their weights: one buffer, made once per
    process and advised as transparent huge pages (as plmkit's llama.cpp build does)."""
    import mmap

    made, advised = [], []

    class Spy(mmap.mmap):
        def __init__(self, *args, **kwargs):
            made.append(args)

        def madvise(self, *args):
            advised.append(args)
            return super().madvise(*args)

    monkeypatch.setattr(machine.mmap, "mmap", Spy)
    machine._huge_page_ones.cache_clear()
    try:
        assert machine.memory_bandwidth_gbs(4) > 0
        assert machine.memory_bandwidth_gbs(4) > 0
        assert made == [(-1, 4 * 2**20)]  # once
        if hasattr(mmap, "MADV_HUGEPAGE"):
            assert advised == [(mmap.MADV_HUGEPAGE,)]
        _, tensor = machine._huge_page_ones(4)
        assert tensor.numel() == 2**20 and float(tensor.sum()) == 2**20
    finally:
        machine._huge_page_ones.cache_clear()
