"""The int8 rewrites on small graphs: outlier channels in fp32, one scale per token
(int8-partial) or per tensor in fused kernels (int8)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx_graphs import exact_gelu, one_matmul, save_graph  # noqa: E402

from plmkit.loading.int8_calibration import input_statistics, int8_columns  # noqa: E402
from plmkit.loading.onnx_graph_edit import OUTLIER_CHANNELS  # noqa: E402
from plmkit.loading.onnx_int8 import quantize_fused, quantize_per_token  # noqa: E402

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
    from plmkit.loading.onnx_graph_edit import GraphEdit

    rng = np.random.default_rng(0)
    w = rng.normal(size=(K, N)).astype(np.float32)
    w[3] *= 50
    gram = np.eye(K)
    part, part_gram = GraphEdit.int8_part(w, "x", np.array([3, 40]), {"x": gram})
    assert not part[[3, 40]].any() and not part_gram[3].any() and not part_gram[:, 40].any()
    assert w[3].any() and gram[3, 3] == 1  # the caller's arrays are left alone
    _, scale = int8_columns(part)
    assert scale.max() < np.abs(w[3]).max() / 127 / 5  # measured: 3.9 / 112.5


def test_exact_gelu_becomes_fast_gelu(tmp_path):
    """The exporter's x * (1 + Erf(x / sqrt 2)) * 0.5 after a quantised matmul becomes one
    FastGelu node (tanh form), within 1e-3 of the exact GELU; its constants go too."""
    from onnx import helper

    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/layer.0/dense/MatMul"),
        *exact_gelu("h", "y"),
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


def _ffn(path, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray) -> None:
    """x @ w1 + b1 -> exact GELU (as the exporter writes it) -> @ w2 -> y, named as in an
    encoder layer's FFN."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="/layer.0/intermediate/MatMul"),
        helper.make_node("Add", ["h0", "b1"], ["h"]),
        *exact_gelu("h", "g"),
        helper.make_node("MatMul", ["g", "w2"], ["y"], name="/layer.0/output/MatMul"),
    ]
    arrays = {"w1": w1, "b1": b1, "w2": w2}
    graph = helper.make_graph(
        nodes,
        "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", w1.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", w2.shape[1]])],
        [numpy_helper.from_array(v, k) for k, v in arrays.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_fused_rewrite_takes_the_ffn_outputs_outlier_channels_from_its_input(tmp_path):
    """Two FFN channels 30x larger than the rest after GELU: the fused rewrite zeroes them in
    the int8 FFN input (weight columns and bias) and computes them whole in fp32 from x, so
    no mask runs over the wide GELU output, and the error falls as with `outliers`' mask."""
    rng = np.random.default_rng(0)
    hidden = 96
    w1 = rng.normal(size=(K, hidden)).astype(np.float32) / 8
    w1[:, [5, 70]] *= 30
    b1 = rng.normal(size=hidden).astype(np.float32) / 10
    w2 = rng.normal(size=(hidden, N)).astype(np.float32) / 8
    source = tmp_path / "fp32.onnx"
    _ffn(source, w1, b1, w2)

    def feed(seed: int) -> dict:
        x = np.random.default_rng(seed).normal(size=(2, 5, K)).astype(np.float32)
        return {"x": x, "attention_mask": np.ones((2, 5), np.int64)}

    maxima, grams = input_statistics(source, [feed(1)])
    assert set(np.argsort(-maxima["g"])[:OUTLIER_CHANNELS]) == {5, 70}
    x = feed(2)["x"]
    exact = _run(source, x)
    errors = {}
    for name, found in (("plain", None), ("outliers", maxima)):
        target = tmp_path / f"{name}.onnx"
        assert quantize_fused(source, target, [], found, grams if found else None) == 2
        errors[name] = np.abs(_run(target, x) - exact).max() / np.abs(exact).max()
    graph = onnx.load(str(tmp_path / "outliers.onnx")).graph
    assert not [n for n in graph.node if n.op_type == "Mul" and "g" in n.input]  # no mask
    side = [n for n in graph.node if n.op_type == "FastGelu" and len(n.input) == 2]
    assert len(side) == 1  # the two channels' GELU, with their bias
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    assert next(w for k, w in weights.items() if k.endswith("_gelu_columns")).shape == (K, 2)
    # measured: 0.0046 against 0.0203
    assert errors["outliers"] < errors["plain"] / 3, errors


def test_static_reshapes_keep_the_outputs_at_every_shape(tmp_path):
    """A Reshape whose shape the graph computes (Shape, Gather, Unsqueeze, Concat, as the
    exporter splits heads) gets a constant one, [0, 0, heads, size]: the same outputs at
    shapes other than the probes', and the shape nodes go at `prune`."""
    from onnx import TensorProto, helper, numpy_helper

    from plmkit.loading.onnx_edits import prune, static_reshapes

    def constant(name: str, value) -> object:
        return numpy_helper.from_array(np.array(value, np.int64), name)

    nodes = [
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["b"], axis=0),
        helper.make_node("Gather", ["shape", "one"], ["t"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes"], ["b1"]),
        helper.make_node("Unsqueeze", ["t", "axes"], ["t1"]),
        helper.make_node("Concat", ["b1", "t1", "heads"], ["target"], axis=0),
        helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids", "last"], ["ids1"]),
        helper.make_node("Tile", ["ids1", "repeats"], ["x"]),  # (b, t, 6)
        helper.make_node("Reshape", ["x", "target"], ["y"]),  # (b, t, 2, 3)
    ]
    graph = helper.make_graph(
        nodes,
        "heads",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", 2, 3])],
        [
            constant("zero", 0),
            constant("one", 1),
            constant("axes", [0]),
            constant("heads", [2, 3]),
            constant("last", [2]),
            constant("repeats", [1, 1, 6]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8

    def run(m, ids):
        return ort.InferenceSession(m.SerializeToString()).run(None, {"input_ids": ids})[0]

    ids = np.arange(4 * 9, dtype=np.int64).reshape(4, 9)
    before = run(model, ids)
    assert static_reshapes(model) == 1
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    shape = next(i for i in model.graph.initializer if i.name == reshape.input[1])
    assert numpy_helper.to_array(shape).tolist() == [0, 0, 2, 3]
    kept = prune(list(model.graph.node), {"y"})
    assert [n.op_type for n in kept] == ["Cast", "Unsqueeze", "Tile", "Reshape"]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    np.testing.assert_array_equal(run(model, ids), before)


def test_fused_rewrite_splits_moderate_outlier_channels_into_int8_parts(tmp_path):
    """Two channels 4x the rest: the fused rewrite divides each into parts that fit the other
    channels' range, side by side in the int8 input with copies of their weight rows (no
    fp32 path), and the error falls as with the fp32 path; 30x the rest (test above) needs
    more than SPLIT_PARTS_MAX parts and keeps the fp32 path."""
    from plmkit.loading.onnx_graph_edit import GraphEdit

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(K, N)).astype(np.float32)
    source = tmp_path / "fp32.onnx"
    one_matmul(source, weight)

    def activations(seed: int, rows: int, tokens: int) -> np.ndarray:
        x = np.random.default_rng(seed).uniform(-1, 1, size=(rows, tokens, K))
        x[..., [3, 40]] *= 4
        return x.astype(np.float32)

    # enough calibration tokens for X^T X (GPTQ) to stand for the inputs: 320 over 64 channels
    calibration = {"x": activations(1, 8, 40), "attention_mask": np.ones((8, 40), np.int64)}
    maxima, grams = input_statistics(source, [calibration])
    x = activations(2, 2, 5)
    exact = x @ weight
    errors = {}
    for name, found in (("plain", None), ("split", maxima)):
        target = tmp_path / f"{name}.onnx"
        quantize_fused(source, target, [], found, grams if found else None)
        errors[name] = np.abs(_run(target, x) - exact).max() / np.abs(exact).max()
    ops = [n.op_type for n in onnx.load(str(tmp_path / "split.onnx")).graph.node]
    assert "Concat" in ops and "MatMul" not in ops  # no fp32 path
    # measured: 0.0057 against 0.0159
    assert errors["split"] < errors["plain"] / 2, errors

    # X^T X of the split input, from the unsplit one
    factor = np.ones(K, np.float32)
    factor[[3, 40]] = [1 / 2, 1 / 3]
    added = np.array([3, 40, 40])
    flat = x.reshape(-1, K).astype(np.float64)
    wide = np.concatenate([flat * factor, (flat * factor)[:, added]], axis=1)
    w, gram = GraphEdit.split_weights(weight, flat.T @ flat, factor, added)
    np.testing.assert_allclose(gram, wide.T @ wide, atol=1e-9)
    np.testing.assert_allclose(wide @ w, flat @ weight, rtol=1e-5, atol=1e-4)
