"""The int8 rewrites on small graphs: outlier channels in fp32, one scale per token
(int8-partial) or per tensor in fused kernels (int8)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx_graphs import one_matmul, save_graph  # noqa: E402

from plmkit.loading.int8_calibration import input_statistics, int8_columns  # noqa: E402
from plmkit.loading.onnx_int8 import (  # noqa: E402
    OUTLIER_CHANNELS,
    quantize_fused,
    quantize_per_token,
)

REWRITES = {"per token": quantize_per_token, "fused": quantize_fused}

K, N = 64, 32


def _run(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("rewrite", list(REWRITES))
def test_outlier_channels_bypass_int8(tmp_path, rewrite):
    """Two channels 30x larger than the rest (as in BERT's LayerNorm outputs) coarsen every
    token's int8 steps; with input_statistics' maxima they go through fp32 and the largest error
    falls more than tenfold. Calibration and test inputs differ."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(K, N)).astype(np.float32)
    source = tmp_path / "fp32.onnx"
    one_matmul(source, weight)

    def activations(seed: int) -> np.ndarray:
        x = np.random.default_rng(seed).normal(size=(2, 5, K)).astype(np.float32)
        x[..., [3, 40]] *= 30
        return x

    maxima, _ = input_statistics(
        source, [{"x": activations(1), "attention_mask": np.ones((2, 5), np.int64)}]
    )
    assert set(np.argsort(-maxima["x"])[:OUTLIER_CHANNELS]) == {3, 40}
    x = activations(2)
    exact = x @ weight
    errors = {}
    for name, found in (("plain", None), ("outliers", maxima)):
        target = tmp_path / f"{name}.onnx"
        assert REWRITES[rewrite](source, target, [], found) == 1
        errors[name] = np.abs(_run(target, x) - exact).max() / np.abs(exact).max()
    # measured: per token 0.0010 against 0.0165; fused (one scale for all 10 tokens) 0.0010
    # against 0.0185
    assert errors["outliers"] < errors["plain"] / 10, errors


@pytest.mark.parametrize("rewrite", list(REWRITES))
def test_kept_matmuls_stay_fp32(tmp_path, rewrite):
    weight = np.random.default_rng(0).normal(size=(K, N)).astype(np.float32)
    source, target = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    one_matmul(source, weight)
    assert REWRITES[rewrite](source, target, ["/layer.0/dense/MatMul"]) == 0
    x = np.random.default_rng(1).normal(size=(1, 3, K)).astype(np.float32)
    np.testing.assert_allclose(_run(target, x), x @ weight, rtol=1e-5, atol=1e-5)


def test_fused_rewrite_runs_matmuls_sharing_an_input_as_one_with_their_biases(tmp_path):
    """query / key / value: three MatMuls on one input, each followed by its bias Add, become
    one DynamicQuantizeMatMul (biases inside) and a Split; the results stay those of fp32 to
    within int8's steps, and no Add is left."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    widths = {"q": N, "k": N // 2, "v": N // 2}
    weights = {n: rng.normal(size=(K, w)).astype(np.float32) for n, w in widths.items()}
    biases = {n: rng.normal(size=w).astype(np.float32) for n, w in widths.items()}
    nodes, outputs, initializers = [], [], []
    for n in widths:
        nodes += [
            helper.make_node("MatMul", ["x", f"w_{n}"], [f"m_{n}"], name=f"/layer.0/{n}/MatMul"),
            helper.make_node("Add", [f"b_{n}", f"m_{n}"], [n], name=f"/layer.0/{n}/Add"),
        ]
        outputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", "t", widths[n]]))
        initializers += [
            numpy_helper.from_array(weights[n], f"w_{n}"),
            numpy_helper.from_array(biases[n], f"b_{n}"),
        ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", K])
    graph = helper.make_graph(nodes, "qkv", [x_info], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    source, target = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(model, str(source))
    assert quantize_fused(source, target, []) == 3
    ops = [n.op_type for n in onnx.load(str(target)).graph.node]
    assert ops == ["DynamicQuantizeMatMul", "Split"]
    x = rng.normal(size=(2, 5, K)).astype(np.float32)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    for n, got in zip(widths, session.run(list(widths), {"x": x}), strict=True):
        exact = x @ weights[n] + biases[n]
        assert got.shape == exact.shape
        error = np.abs(got - exact).max() / np.abs(exact).max()
        assert error < 0.05, (n, error)  # measured: 0.008 each


def test_outlier_rows_set_no_int8_scale(tmp_path):
    """The weight rows of the outlier channels go through fp32, so they are left out of the
    int8 columns' scales: a column whose largest weight sits in such a row keeps fine steps."""
    from plmkit.loading.onnx_int8 import _GraphEdit

    rng = np.random.default_rng(0)
    w = rng.normal(size=(K, N)).astype(np.float32)
    w[3] *= 50
    gram = np.eye(K)
    part, part_gram = _GraphEdit.int8_part(w, "x", np.array([3, 40]), {"x": gram})
    assert not part[[3, 40]].any() and not part_gram[3].any() and not part_gram[:, 40].any()
    assert w[3].any() and gram[3, 3] == 1  # the caller's arrays are left alone
    _, scale = int8_columns(part)
    assert scale.max() < np.abs(w[3]).max() / 127 / 5  # measured: 3.9 / 112.5


def test_exact_gelu_becomes_fast_gelu(tmp_path):
    """The exporter's x * (1 + Erf(x / sqrt 2)) * 0.5 after a quantised matmul becomes one
    FastGelu node (tanh form), within 1e-3 of the exact GELU; its constants go too."""
    from onnx import helper, numpy_helper

    def constant(name: str, value: float):
        tensor = numpy_helper.from_array(np.array(value, np.float32), name)
        return helper.make_node("Constant", [], [name], value=tensor)

    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/layer.0/dense/MatMul"),
        constant("root2", 2**0.5),
        constant("one", 1.0),
        constant("half", 0.5),
        helper.make_node("Div", ["h", "root2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["erf1"]),
        helper.make_node("Mul", ["h", "erf1"], ["twice"]),
        helper.make_node("Mul", ["twice", "half"], ["y"]),
    ]
    weight = np.random.default_rng(0).normal(size=(K, N)).astype(np.float32) / 4
    source = tmp_path / "fp32.onnx"
    save_graph(source, nodes, weight)
    x = np.random.default_rng(1).normal(size=(2, 5, K)).astype(np.float32)
    exact = _run(source, x)
    for name, rewrite in REWRITES.items():
        target = tmp_path / f"{name}.onnx"
        rewrite(source, target, [])
        ops = [n.op_type for n in onnx.load(str(target)).graph.node]
        assert ops.count("FastGelu") == 1 and "Erf" not in ops and "Constant" not in ops, ops
        assert np.abs(_run(target, x) - exact).max() < 0.05 * np.abs(exact).max(), name
    # the tanh form alone, on the fp32 matmul
    fast = tmp_path / "fast.onnx"
    keep_all = ["/layer.0/dense/MatMul"]
    quantize_fused(source, fast, keep_all)
    assert np.abs(_run(fast, x) - exact).max() < 1e-3
