"""The int8 rewrite on a one-matmul graph: one scale per token, outlier channels in fp32."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from plmkit.loading.onnx_int8 import (  # noqa: E402
    OUTLIER_CHANNELS,
    channel_maxima,
    quantize_per_token,
)

K, N = 64, 32


def _one_matmul(path, weight: np.ndarray) -> None:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="/layer.0/dense/MatMul")],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", N])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _run(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_outlier_channels_bypass_int8(tmp_path):
    """Two channels 30x larger than the rest (as in BERT's LayerNorm outputs) coarsen every
    token's int8 steps; with channel_maxima they go through fp32 and the largest error
    falls more than tenfold. Calibration and test inputs differ."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(K, N)).astype(np.float32)
    source = tmp_path / "fp32.onnx"
    _one_matmul(source, weight)

    def activations(seed: int) -> np.ndarray:
        x = np.random.default_rng(seed).normal(size=(2, 5, K)).astype(np.float32)
        x[..., [3, 40]] *= 30
        return x

    maxima = channel_maxima(
        source, [{"x": activations(1), "attention_mask": np.ones((2, 5), np.int64)}]
    )
    assert set(np.argsort(-maxima["x"])[:OUTLIER_CHANNELS]) == {3, 40}
    x = activations(2)
    exact = x @ weight
    errors = {}
    for name, found in (("plain", None), ("outliers", maxima)):
        target = tmp_path / f"{name}.onnx"
        assert quantize_per_token(source, target, [], found) == 1
        errors[name] = np.abs(_run(target, x) - exact).max() / np.abs(exact).max()
    assert errors["outliers"] < errors["plain"] / 10  # measured: 0.022 against 0.437


def test_kept_matmuls_stay_fp32(tmp_path):
    weight = np.random.default_rng(0).normal(size=(K, N)).astype(np.float32)
    source, target = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _one_matmul(source, weight)
    assert quantize_per_token(source, target, ["/layer.0/dense/MatMul"]) == 0
    x = np.random.default_rng(1).normal(size=(1, 3, K)).astype(np.float32)
    np.testing.assert_allclose(_run(target, x), x @ weight, rtol=1e-5, atol=1e-5)
