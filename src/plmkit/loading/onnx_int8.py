"""int8 ONNX encoders with one scale per token: our own rewrite of the exported fp32 graph.

Every MatMul whose right-hand side is a weight (not one of `keep`) becomes
- its weights quantised once, symmetric int8, one scale per output column;
- its input quantised at run time, one scale per token (row): |x|max / 127, zero point 128;
- ONNX Runtime's fused `MatMulIntegerToFloat` (the u8 x s8 int8 GEMM and the column
  scales) times the row scales.

Why not `onnxruntime.quantization.quantize_dynamic`, which we used before: it gives the whole
batch one activation scale, so one token with a large activation coarsens every other
token's steps, and a text's result depends on what it is batched with.

int8-partial adds LLM.int8()'s decomposition (Dettmers et al., 2022): the OUTLIER_CHANNELS
input channels with the largest |x| on CALIBRATION_TEXTS skip int8 (a thin fp32 matmul)
and are zeroed in the int8 input, whose per-token scale then fits the other channels. The
head (the classifier, a few FLOPs that decide the label) stays fp32 too.

Measured on all-MiniLM-L6-v2 (AMD EPYC Zen 3), cosine of mean-pooled states against torch
fp32; speed on 1,024 movie snippets, batches of 16, one thread, best of 4 alternating:

| | texts/s | 1,000 movie snippets: mean / worst | worst built-in sentence (*) |
|---|---|---|---|
| fp32 | 124.5 | 1 / 1 | 1 |
| quantize_dynamic, per-channel weights (session 8) | | 0.9911 / 0.9791 | 0.9641 |
| int8, per token | 190.1 | 0.9957 / 0.9903 | 0.9756 |
| int8-partial before: value and FFN-out projections fp32 | 156.4 | 0.9984 / 0.9949 | 0.9918 |
| int8-partial: 2 outlier channels per input in fp32 | 183.5 | 0.9987 / 0.9967 | 0.9953 |

(*) in length-sorted batches and batched with longer texts, as `auto` checks. Which
matmuls hurt most when quantised alone (per token, no outlier channels): the attention
value projections of layers 3-5 (0.9964-0.9983), layer 4's FFN input (0.9968); 24 of the
36 stay at or above 0.9994. Choosing matmuls to keep in fp32 by that ranking needed 9 of
them (a third of the FLOPs) to reach 0.995; outlier channels reach it with none. Only the
largest channels matter: in torch emulation 1 channel gave 0.9966, 2 0.9973, 8 0.9975.
SmoothQuant-style scaling of all input channels made it worse here, so it is not used.

On AVX2 without VNNI, ONNX Runtime's u8 x s8 GEMM adds pairs of products in 16 bits and
saturates (vpmaddubsw): on random full-range operands its results were off by up to 17%
(with 7-bit weights, exact). Measured on MiniLM against an exact emulation: int8 worst
0.9756 vs 0.9797, int8-partial 0.9953 vs 0.9973. Weights as u8 (zero point 128) avoid it
(0.9797 / 0.9971) but run 20% slower; 7-bit weights lose more to their coarser steps
(0.9749 / 0.9941). So the weights stay s8: int8-partial passes `auto`'s 0.99 either way, and
with VNNI (vpdpbusd adds in 32 bits) there is nothing to avoid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INT8_VERSION = 3
"""Part of the cache key of int8 copies: 1 was quantize_dynamic (one scale per batch), 2 had
no outlier channels (int8-partial kept each layer's value and FFN output in fp32)."""


def matmuls_to_keep(path: Path, partial: bool) -> list[str]:
    """The MatMul / Gemm nodes that stay fp32: none for int8; for int8-partial every one
    outside the encoder layers (the classifier head and pooler: a few FLOPs that decide the
    label). Inside the layers int8-partial keeps outlier channels instead (OUTLIER_CHANNELS)."""
    import onnx

    if not partial:
        return []
    nodes = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in ("MatMul", "Gemm")]
    return [n for n in nodes if "/layer." not in n and "/layers." not in n]


OUTLIER_CHANNELS = 2
"""Input channels per quantised tensor that bypass int8 (LLM.int8()'s decomposition): the
ones with the largest |x| on the calibration texts. BERT-style layers carry a few channels
10-20x larger than the rest (MiniLM: 28.5 against a median of 1.7 in layer 0's FFN input);
one such channel sets every token's scale and coarsens the others' steps. Kept in fp32 (a
(tokens, 2) x (2, N) matmul) and zeroed in the int8 input, MiniLM's worst built-in sentence
went 0.9756 -> 0.9953 at 3.5% less speed than plain int8 (see the table above)."""

CALIBRATION_TEXTS = (
    "Yes.",
    "Thanks!",
    "Absolutely terrible.",
    "Good morning, everyone.",
    "See you tomorrow at 9.",
    "Where is the nearest train station?",
    "The meeting has been moved to Thursday afternoon.",
    "Please restart your computer before installing the update.",
    "The river floods every spring when the snow melts in the mountains.",
    "She scored twice in the second half and the team won 3-1.",
    "Interest rates rose for the third time this year, surprising most analysts.",
    "Add the flour slowly and stir until the batter is smooth.",
    "The patient was given antibiotics and discharged after two days.",
    "Our quarterly revenue grew by 12% compared with the same period last year.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "Error: file not found (code 404).",
    "The new phone has a bigger battery but the camera is worse.",
    "He apologised for the delay and promised a full refund.",
    "Customers complained that the app crashes whenever they open the settings page.",
    "The old castle on the hill is now a museum of local history, open every day except "
    "Monday, with guided tours in four languages.",
    "After years of negotiations, the two countries finally signed a trade agreement that "
    "removes tariffs on most agricultural products.",
    "The algorithm sorts the list in place and runs in n log n time on average.",
    "It rained all weekend, so we stayed in and played board games.",
    "Hmm, not sure about that.",
)
"""Where the outlier channels are found: everyday text, none of it `auto`'s check sentences
(which then judge the result) nor movie reviews (the bench's data)."""


def channel_maxima(path: Path, feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """For every weight MatMul's input tensor, max |x| per channel over the real tokens of
    `feeds` (the graph's inputs and an attention_mask: 1 where a token is real), run
    through the fp32 graph at `path`."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = onnx.load(str(path))
    weights = {i.name for i in model.graph.initializer}
    inputs = sorted(
        {n.input[0] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights}
    )
    for name in inputs:
        model.graph.output.append(helper.make_value_info(name, onnx.TypeProto()))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    graph_inputs = {i.name for i in session.get_inputs()}
    for feed in feeds:
        values = session.run(inputs, {k: v for k, v in feed.items() if k in graph_inputs})
        real = feed["attention_mask"].astype(bool)
        for name, value in zip(inputs, values, strict=True):
            flat = value.reshape(-1, value.shape[-1])
            rows = value[real] if value.shape[:2] == real.shape else flat
            top = np.abs(rows).max(0)
            maxima[name] = np.maximum(maxima[name], top) if name in maxima else top
    return maxima


def quantize_per_token(
    source: Path, target: Path, keep: list[str], maxima: dict[str, np.ndarray] | None = None
) -> int:
    """Write `source` with its weight MatMuls (but `keep`) in int8 to `target`; returns how
    many were quantised. With `maxima` (channel_maxima), each quantised input's
    OUTLIER_CHANNELS largest channels go through fp32 instead."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    added: list = []

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    const("q8_127", np.array(127, np.float32))
    const("q8_inv127", np.array(1 / 127, np.float32))
    const("q8_eps", np.array(1e-12, np.float32))
    const("q8_zero", np.array(128, np.uint8))
    const("q8_one", np.array(1.0, np.float32))
    nodes: list = []
    quantised_inputs: dict[str, tuple] = {}  # input -> (uint8 tokens, row scales, outliers)
    count = 0
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        w = numpy_helper.to_array(weight) if weight is not None else None
        if w is None or w.ndim != 2 or w.dtype != np.float32 or node.name in keep:
            nodes.append(node)
            continue
        x = node.input[0]
        if x not in quantised_inputs:  # q, k and v share theirs
            p = f"q8_{len(quantised_inputs)}"
            outliers, plain = None, x
            if maxima is not None and x in maxima:
                outliers = np.sort(np.argsort(-maxima[x])[:OUTLIER_CHANNELS]).astype(np.int64)
                mask = np.ones(w.shape[0], np.float32)
                mask[outliers] = 0
                nodes += [
                    helper.make_node("Mul", [x, const(f"{p}_mask", mask)], [f"{p}_rest"]),
                    helper.make_node(
                        "Gather", [x, const(f"{p}_idx", outliers)], [f"{p}_out"], axis=-1
                    ),
                ]
                plain = f"{p}_rest"
            nodes += [  # one scale per token: x * (127 / |x|max), then a plain QuantizeLinear
                helper.make_node("Abs", [plain], [f"{p}_abs"]),
                helper.make_node("ReduceMax", [f"{p}_abs"], [f"{p}_max"], axes=[-1], keepdims=1),
                helper.make_node("Max", [f"{p}_max", "q8_eps"], [f"{p}_max1"]),
                helper.make_node("Div", ["q8_127", f"{p}_max1"], [f"{p}_inv"]),
                helper.make_node("Mul", [plain, f"{p}_inv"], [f"{p}_steps"]),
                helper.make_node("QuantizeLinear", [f"{p}_steps", "q8_one", "q8_zero"], [f"{p}_q"]),
                helper.make_node("Mul", [f"{p}_max1", "q8_inv127"], [f"{p}_scale"]),  # (.., 1)
            ]
            quantised_inputs[x] = (f"{p}_q", f"{p}_scale", outliers, f"{p}_out")
        tokens, scale, outliers, outlier_x = quantised_inputs[x]
        column_scale = np.maximum(np.abs(w).max(0), 1e-12) / 127  # (N,)
        q = np.clip(np.round(w / column_scale), -127, 127).astype(np.int8)
        name = node.input[1]
        const(f"{name}_int8", q)
        const(f"{name}_scale", column_scale.astype(np.float32))
        out = node.output[0]
        int8_out = out if outliers is None else f"{out}_int8"
        nodes += [
            helper.make_node(
                "MatMulIntegerToFloat",
                [tokens, f"{name}_int8", "q8_one", f"{name}_scale", "q8_zero"],
                [f"{out}_unscaled"],
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{out}_unscaled", scale], [int8_out]),
        ]
        if outliers is not None:
            rows = const(f"{name}_outlier_rows", w[outliers])  # (k, N), fp32
            nodes += [
                helper.make_node("MatMul", [outlier_x, rows], [f"{out}_outliers"]),
                helper.make_node("Add", [int8_out, f"{out}_outliers"], [out]),
            ]
        count += 1
    used = {i for n in nodes for i in n.input}
    kept = [i for i in list(graph.initializer) + added if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(target))
    return count
