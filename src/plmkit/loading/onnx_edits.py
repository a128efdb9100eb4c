"""Edits of an exported ONNX graph that ONNX Runtime's own optimiser does not make."""

from __future__ import annotations


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
