"""Small ONNX graphs for the int8 rewrite tests (tests/unit/loading)."""

from __future__ import annotations

import numpy as np


def one_matmul(path, weight: np.ndarray) -> None:
    """A graph of one weight MatMul, x (b, t, K) @ weight (K, N) -> y, named as in an encoder
    layer (so the rewrites quantise it), saved at `path`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, n = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="/layer.0/dense/MatMul")],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
