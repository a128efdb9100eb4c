"""Small ONNX graphs for the int8 rewrite tests (tests/unit/loading)."""

from __future__ import annotations

import numpy as np


def save_graph(path, nodes: list, weight: np.ndarray) -> None:
    """A graph of `nodes` from x (b, t, K) to y (b, t, N), with `weight` (K, N) as the
    initialiser "w", saved at `path`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, n = weight.shape
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def one_matmul(path, weight: np.ndarray) -> None:
    """x @ weight -> y, one MatMul named as in an encoder layer (so the rewrites quantise it)."""
    from onnx import helper

    save_graph(
        path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="/layer.0/dense/MatMul")], weight
    )


def exact_gelu(x: str, y: str) -> list:
    """y = GELU(x) as the exporter writes it: x * (1 + Erf(x / sqrt 2)) * 0.5, constants as
    Constant nodes."""
    from onnx import helper, numpy_helper

    def constant(name: str, value: float):
        tensor = numpy_helper.from_array(np.array(value, np.float32), name)
        return helper.make_node("Constant", [], [name], value=tensor)

    return [
        constant(f"{x}_root2", 2**0.5),
        constant(f"{x}_one", 1.0),
        constant(f"{x}_half", 0.5),
        helper.make_node("Div", [x, f"{x}_root2"], [f"{x}_scaled"]),
        helper.make_node("Erf", [f"{x}_scaled"], [f"{x}_erf"]),
        helper.make_node("Add", [f"{x}_erf", f"{x}_one"], [f"{x}_erf1"]),
        helper.make_node("Mul", [x, f"{x}_erf1"], [f"{x}_twice"]),
        helper.make_node("Mul", [f"{x}_twice", f"{x}_half"], [y]),
    ]
