"""Edits of an exported ONNX graph that ONNX Runtime's own optimiser does not make."""

from __future__ import annotations

import numpy as np


def approximate_gelu(nodes: list, initializers: dict) -> tuple[list, int]:
    """`nodes` (a graph's, in order) with each exact GELU the exporter wrote out
    (x * (1 + Erf(x / sqrt 2)) * 0.5) as ONNX Runtime's FastGelu (tanh form, one kernel), and
    how many; the Constants only they read go too. `initializers`: the graph's, by name."""
    from onnx import helper, numpy_helper

    constants = {o: n for n in nodes if n.op_type == "Constant" for o in n.output}

    def value(name: str) -> float | None:
        if name in constants:
            array = numpy_helper.to_array(constants[name].attribute[0].t)
        elif name in initializers:
            array = numpy_helper.to_array(initializers[name])
        else:
            return None
        return float(array) if array.size == 1 else None

    def near(name: str, target: float) -> bool:
        found = value(name)
        return found is not None and abs(found - target) < 1e-3

    producers = {o: n for n in nodes for o in n.output}
    readers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def only_reader(node, op_type: str):
        after = readers.get(node.output[0], [])
        return after[0] if len(after) == 1 and after[0].op_type == op_type else None

    replaced: dict[int, object] = {}  # id of the pattern's last Mul -> FastGelu
    dropped: set[int] = set()
    for erf in [n for n in nodes if n.op_type == "Erf"]:
        div = producers.get(erf.input[0])
        add = only_reader(erf, "Add")
        times_x = add and only_reader(add, "Mul")
        half = times_x and only_reader(times_x, "Mul")
        if not (div and div.op_type == "Div" and half and near(div.input[1], 2**0.5)):
            continue
        x = div.input[0]
        if not (
            x in times_x.input
            and any(near(i, 1.0) for i in add.input)
            and any(near(i, 0.5) for i in half.input)
        ):
            continue
        fused = helper.make_node(
            "FastGelu", [x], [half.output[0]], domain="com.microsoft", name=f"{x}_gelu"
        )
        replaced[id(half)] = fused
        dropped |= {id(div), id(erf), id(add), id(times_x)}
    nodes = [replaced.get(id(n), n) for n in nodes if id(n) not in dropped]
    used = {i for n in nodes for i in n.input}
    nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] in used]
    return nodes, len(replaced)


PROBE_SHAPES = ((2, 5), (3, 7))
"""(batch, tokens) of the two runs `static_reshapes` compares: sizes no weight has."""


def static_reshapes(model) -> int:
    """Give each Reshape whose target shape the exporter computes at run time (Shape, Gather,
    Unsqueeze, Concat: about 300 small nodes in a 6-layer BERT) a constant one instead, and
    return how many: per output axis, its size where both PROBE_SHAPES runs agree, 0 (keep
    the input's size) where it follows the input's axis, else -1. A Reshape whose shape
    needs two -1 keeps its computed one. The nodes left unread go at `prune`. MiniLM int8:
    1.01x (one thread, 1,000 movie snippets, each batch run by both graphs in turn)."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    constant = {i.name for i in graph.initializer}
    constant |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    reshapes = [n for n in graph.node if n.op_type == "Reshape" and n.input[1] not in constant]
    inputs = list(graph.input)
    if not reshapes or any(i.type.tensor_type.elem_type != onnx.TensorProto.INT64 for i in inputs):
        return 0
    session = probe_session(model, {t for n in reshapes for t in (n.input[0], n.output[0])})
    names = [o.name for o in session.get_outputs()]
    runs = []
    for batch, tokens in PROBE_SHAPES:
        feeds = {i.name: np.ones((batch, tokens), np.int64) for i in inputs}
        runs.append(dict(zip(names, (v.shape for v in session.run(names, feeds)), strict=True)))
    count = 0
    for node in reshapes:
        before = [run[node.input[0]] for run in runs]
        after = [run[node.output[0]] for run in runs]
        shape = []
        for axis, size in enumerate(after[0]):
            if size == after[1][axis]:
                shape.append(size)
            elif axis < len(before[0]) and all(
                a[axis] == b[axis] for a, b in zip(after, before, strict=True)
            ):
                shape.append(0)
            else:
                shape.append(-1)
        if shape.count(-1) > 1:
            continue
        name = f"{node.output[0]}_static_shape"
        graph.initializer.append(numpy_helper.from_array(np.array(shape, np.int64), name))
        node.input[1] = name
        count += 1
    return count


def prune(nodes: list, outputs: set[str]) -> list:
    """`nodes` (in order) without those nothing reads on the way to `outputs`."""
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1]


def probe_session(model, tensors):
    """An ONNX Runtime session on `model` that also returns the intermediate `tensors` (by
    name), its warnings off (the exporter's unused constants, on every export); `model` is
    left as it was."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    outputs = len(model.graph.output)
    model.graph.output.extend(helper.make_value_info(t, onnx.TypeProto()) for t in tensors)
    try:
        serialized = model.SerializeToString()
    finally:
        del model.graph.output[outputs:]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
