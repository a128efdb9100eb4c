"""int8 ONNX encoders: our own rewrites of the exported fp32 graph.

Both quantise every MatMul whose right-hand side is a weight (but the head, `keep`): its
weights once, symmetric int8, one scale per output column, rounded against the inputs seen on
CALIBRATION_TEXTS (GPTQ); its input at run time. Each quantised input's OUTLIER_CHANNELS
largest channels (found on CALIBRATION_TEXTS; none at the attention output's) keep the
activation scale from fitting them alone: int8-partial sends them through fp32 (LLM.int8()'s
decomposition, Dettmers et al., 2022: a thin fp32 matmul, zeroed in the int8 input); int8
computes the FFN output's from the FFN input in fp32 (`_gelu_outliers`) and splits the
others into int8 parts that fit the other channels (GraphEdit.split_outliers), fp32 only
where that takes more than SPLIT_PARTS_MAX parts. They differ in the activation scale:

- int8-partial (`quantize_per_token`): one scale per token (row), |x|max / 127, zero point
  128, then ONNX Runtime's `MatMulIntegerToFloat` (the u8 x s8 GEMM and the column scales)
  times the row scales. A text's result does not depend on what it is batched with.
- int8 (`quantize_fused`): one scale per tensor, ONNX Runtime's `DynamicQuantizeMatMul`,
  which quantises its input, multiplies and adds the bias in one kernel, where the per-token
  scale costs seven element-wise passes more per input and two per output; and the
  MatMuls that share an input (query, key and value) as one product and a Split. Coarser:
  one large token coarsens its batch's steps.

Why not `onnxruntime.quantization.quantize_dynamic`, which we used before: its per-tensor
scale with the outlier channels in int8 came out at cosine 0.977 on the movie snippets
(below).

Measured on all-MiniLM-L6-v2, cosine of mean-pooled states against torch fp32. Zen 4 (2
cores, AVX-512 VNNI), 1,000 movie snippets as `OnnxEncoder` runs them (batches of 8 sorted
by length, one per core), best of 8 alternating rounds; built-in sentences as `auto` checks
them, in length-sorted batches and batched with longer texts:

| | texts/s | movie snippets: mean / worst | worst built-in sentence |
|---|---|---|---|
| fp32 | 286 (5 rounds) | 1 / 1 | 1 |
| quantize_dynamic, per-channel weights | 601 (5 rounds) | 0.9921 / 0.9768 | 0.9641 (session 8) |
| int8 per token, no outlier channels (INT8_VERSION 3) | 599 | 0.9969 / 0.9886 | 0.9797 |
| int8-partial: per token, outlier channels | 551 | 0.9993 / 0.9979 | 0.9971 |
| int8: per tensor, fused, outlier channels | 628 | 0.9983 / 0.9939 | 0.9905 |
| the same, v6 (below) | | 0.9984 / 0.9953 | 0.9918 |

INT8_VERSION 6 changed three things (Zen 4, one thread, 1,000 snippets, cosines against ONNX
fp32; the last column against torch fp32 as `auto` judges): no outlier channels at the
attention output's input (OUTLIERS_SKIP), FastGelu (`GraphEdit.approximate_gelu`), and
weights rounded against their inputs on the calibration texts with the outlier rows left out
of the column scales (`int8_columns`, GPTQ). The first two ran 1.03x faster paired batch by
batch and moved the worst built-in sentence by 0.0002-0.0008 either way (0.9899 ->
0.9897-0.9905); the weight rounding took it to 0.9912 (0.9918 against torch, where v6
without it measured 0.9897 and `auto` turned int8 down). On the fine-tuned classifier's
labelled rows int8 then agreed with fp32 on 99.8% of labels (v5: 99.0%).

INT8_VERSION 7 (int8 only): the FFN output's outlier channels are computed from the FFN's
input (`_gelu_outliers`) instead of masked out of the 1,536-wide GELU output, and every
Reshape in the layers gets a constant shape (onnx_edits.static_reshapes, both rewrites).
Together 1.023x paired batch by batch (Zen 4, one thread); worst built-in sentence 0.9910
against 0.9912 (ONNX fp32 reference), movie snippets unchanged (0.9984 / 0.9953). Leaving
out the FFN output's outlier channels instead dropped the worst built-in sentence to 0.9827,
the LayerNorm outputs' to 0.9729.

INT8_VERSION 8 (int8 only): where its outlier channels are at most SPLIT_PARTS_MAX times
the largest other channel, an input's outlier channels no longer go through fp32: each is
divided into that many equal parts side by side in the int8 input, with copies of its weight
rows (GraphEdit.split_outliers): one scale per tensor then fits the other channels as with
the fp32 path, and the thin fp32 product and the Add over the wide output go. MiniLM needs
2-5 parts at its LayerNorm outputs (4-12 more input channels on 384): 1.030-1.045x paired on
one thread, worst built-in sentence 0.9912 (v7 0.9910), movie snippets 0.9983 / 0.9941
(0.9984 / 0.9953).

Outlier channels on only some inputs (per tensor) fell below 0.99 (0.985-0.990), and 3,
4 or 6 channels instead of 2 gave 0.9917, 0.9906, 0.9900: the per-tensor scale, not the
outliers, sets the rest. Earlier measurements (Zen 3, one thread, batches of 16; the
per-token rewrite): fp32 124.5 texts/s, int8 per token 190.1, int8-partial with the value and
FFN-output projections kept fp32 156.4 (0.9984 / 0.9949 / 0.9918), with outlier channels
183.5 (0.9987 / 0.9967 / 0.9953). Which matmuls hurt most when quantised alone (per token,
no outlier channels): the attention value projections of layers 3-5 (0.9964-0.9983), layer
4's FFN input (0.9968); 24 of the 36 stay at or above 0.9994. Choosing matmuls to keep in
fp32 by that ranking needed 9 of them (a third of the FLOPs) to reach 0.995; outlier
channels reach it with none. Only the largest channels matter: in torch emulation 1 channel
gave 0.9966, 2 0.9973, 8 0.9975. SmoothQuant-style scaling of all input channels made it
worse here, so it is not used.

On AVX2 without VNNI, ONNX Runtime's u8 x s8 GEMM adds pairs of products in 16 bits and
saturates (vpmaddubsw): on random full-range operands its results were off by up to 17%
(with 7-bit weights, exact). Measured on MiniLM against an exact emulation: int8 per token
worst 0.9756 vs 0.9797, int8-partial 0.9953 vs 0.9973. Weights as u8 (zero point 128) avoid
it (0.9797 / 0.9971) but run 20% slower; 7-bit weights lose more to their coarser steps
(0.9749 / 0.9941). So the weights stay s8: `auto` measures each engine on the CPU it runs on,
and with VNNI (vpdpbusd adds in 32 bits) there is nothing to avoid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plmkit.loading.int8_calibration import int8_columns
from plmkit.loading.onnx_graph_edit import GraphEdit

INT8_VERSION = 8
"""Part of the cache key of int8 copies: 1 was quantize_dynamic (one scale per batch), 2 had
no outlier channels (int8-partial kept each layer's value and FFN output in fp32), 3's int8
had one scale per token, no outlier channels and an int8 head, 4 the attention's NaN guards
(exports.drop_softmax_nan_guards; the same results), 5 weights rounded one by one, the exact
GELU and outlier channels at the attention output's input, 6 masked the FFN output's
outlier channels in int8's input and had the exporter's computed Reshape shapes, 7 sent
the other outlier channels through fp32 in int8 too (8: GraphEdit.split_outliers; 7 was
`_gelu_outliers` and onnx_edits.static_reshapes; 6 int8_columns' GPTQ, FastGelu,
OUTLIERS_SKIP)."""


def matmuls_to_keep(path: Path) -> list[str]:
    """The MatMul / Gemm nodes that stay fp32: every one outside the encoder layers (the
    classifier head and pooler: a few FLOPs that decide the label). Inside the layers the
    outlier channels stay fp32 instead (OUTLIER_CHANNELS)."""
    import onnx

    nodes = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in ("MatMul", "Gemm")]
    return [n for n in nodes if "/layer." not in n and "/layers." not in n]


def quantize_per_token(
    source: Path,
    target: Path,
    keep: list[str],
    maxima: dict[str, np.ndarray] | None = None,
    grams: dict[str, np.ndarray] | None = None,
) -> int:
    """Write `source` with its weight MatMuls (but `keep`) in int8, one activation scale per
    token, to `target`; returns how many were quantised. With `maxima` (input_statistics),
    each quantised input's OUTLIER_CHANNELS largest channels go through fp32 instead; with
    `grams` (input_statistics), weights are rounded against their inputs (int8_columns)."""
    from onnx import helper

    edit = GraphEdit(source)
    edit.approximate_gelu()
    const = edit.const
    const("q8_127", np.array(127, np.float32))
    const("q8_inv127", np.array(1 / 127, np.float32))
    const("q8_eps", np.array(1e-12, np.float32))
    const("q8_zero", np.array(128, np.uint8))
    const("q8_one", np.array(1.0, np.float32))
    quantised_inputs: dict[str, tuple] = {}  # input -> (uint8 tokens, row scales, outliers)
    count = 0
    for node in edit.model.graph.node:
        w = edit.weight(node)
        if w is None or node.name in keep:
            edit.nodes.append(node)
            continue
        x = node.input[0]
        if x not in quantised_inputs:  # q, k and v share theirs
            p = f"q8_{len(quantised_inputs)}"
            plain, outlier_x, channels = edit.outliers(x, maxima, p)
            edit.nodes += [  # one scale per token: x * (127 / |x|max), then a plain QuantizeLinear
                helper.make_node("Abs", [plain], [f"{p}_abs"]),
                helper.make_node("ReduceMax", [f"{p}_abs"], [f"{p}_max"], axes=[-1], keepdims=1),
                helper.make_node("Max", [f"{p}_max", "q8_eps"], [f"{p}_max1"]),
                helper.make_node("Div", ["q8_127", f"{p}_max1"], [f"{p}_inv"]),
                helper.make_node("Mul", [plain, f"{p}_inv"], [f"{p}_steps"]),
                helper.make_node("QuantizeLinear", [f"{p}_steps", "q8_one", "q8_zero"], [f"{p}_q"]),
                helper.make_node("Mul", [f"{p}_max1", "q8_inv127"], [f"{p}_scale"]),  # (.., 1)
            ]
            quantised_inputs[x] = (f"{p}_q", f"{p}_scale", channels, outlier_x)
        tokens, scale, channels, outlier_x = quantised_inputs[x]
        q, column_scale = int8_columns(*edit.int8_part(w, x, channels, grams))
        name = node.input[1]
        out = node.output[0]
        int8_out = out if channels is None else f"{out}_int8"
        edit.nodes += [
            helper.make_node(
                "MatMulIntegerToFloat",
                [
                    tokens,
                    const(f"{name}_int8", q),
                    "q8_one",
                    const(f"{name}_scale", column_scale),
                    "q8_zero",
                ],
                [f"{out}_unscaled"],
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{out}_unscaled", scale], [int8_out]),
        ]
        if channels is not None:
            edit.add_outliers(int8_out, outlier_x, w[channels], out)
        count += 1
    edit.save(target)
    return count


def quantize_fused(
    source: Path,
    target: Path,
    keep: list[str],
    maxima: dict[str, np.ndarray] | None = None,
    grams: dict[str, np.ndarray] | None = None,
) -> int:
    """Write `source` with its weight MatMuls (but `keep`) in int8, one activation scale per
    tensor, to `target`; returns how many were quantised. The MatMuls that share an input
    (query, key, value) become one `DynamicQuantizeMatMul` on their weights side by side
    and a Split; a bias Add that only follows a MatMul goes into the kernel. With `maxima`,
    outlier channels as in `quantize_per_token`, but the FFN output's come from the FFN
    input instead (`_gelu_outliers`)."""
    from onnx import helper

    edit = GraphEdit(source)
    edit.approximate_gelu()  # first: `_gelu_outliers` looks for FastGelu
    nodes = list(edit.model.graph.node)
    readers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    groups: dict[str, list] = {}  # input -> the weight MatMuls reading it
    for node in nodes:
        if edit.weight(node) is not None and node.name not in keep:
            groups.setdefault(node.input[0], []).append(node)

    def bias_add(node, columns: int):
        """(the Add of a bias after `node`, the bias), or (None, zeros)."""
        after = readers.get(node.output[0], [])
        if len(after) == 1 and after[0].op_type == "Add":
            other = next(i for i in after[0].input if i != node.output[0])
            producer = edit.producers.get(other)
            if producer is not None and producer.op_type == "Identity":  # a shared initialiser
                other = producer.input[0]
            if other in edit.weights:
                bias = edit.array(other)
                if bias.shape == (columns,) and bias.dtype == np.float32:
                    return after[0], bias
        return None, np.zeros(columns, np.float32)

    through_gelu = _gelu_outliers(edit, groups, readers, maxima)
    from_gelu: dict[str, tuple] = {}  # an FFN output's input -> (its outlier channels, indices)
    folded: set[str] = set()  # outputs of the bias Adds now inside a kernel
    done: set[str] = set()
    count = 0
    for node in nodes:
        if node.op_type == "Add" and node.output[0] in folded:
            continue
        x = node.input[0] if node.op_type == "MatMul" else None
        if x not in groups or node not in groups[x]:
            edit.nodes.append(node)
            continue
        if x in done:  # written with the first MatMul of its group
            continue
        done.add(x)
        members = groups[x]
        weights = [edit.weight(m) for m in members]
        outputs, biases = [], []
        for member, w in zip(members, weights, strict=True):
            add, bias = bias_add(member, w.shape[1])
            if add is not None:
                folded.add(add.output[0])
            outputs.append(add.output[0] if add is not None else member.output[0])
            biases.append(bias)
        p = f"dq8_{len(done)}"
        if len(members) == 1 and outputs[0] in through_gelu:  # an FFN input
            gelu_out, channels = through_gelu[outputs[0]]
            w, bias = weights[0].copy(), biases[0].copy()
            edit.nodes += [  # the FFN output's outlier channels, whole, in fp32
                helper.make_node(
                    "MatMul", [x, edit.const(f"{p}_gelu_columns", w[:, channels])], [f"{p}_pre"]
                ),
                helper.make_node(
                    "FastGelu",
                    [f"{p}_pre", edit.const(f"{p}_gelu_bias", bias[channels])],
                    [f"{p}_gelu_out"],
                    domain="com.microsoft",
                ),
            ]
            w[:, channels] = bias[channels] = 0  # so those channels come out GELU(0) = 0
            weights, biases = [w], [bias]
            from_gelu[gelu_out] = (f"{p}_gelu_out", channels)
        w = np.concatenate(weights, axis=1)
        if x in from_gelu:  # zero in x already: no mask
            plain, (outlier_x, channels) = x, from_gelu[x]
            kernel_w, gram = edit.int8_part(w, x, channels, grams)
        elif split := edit.split_outliers(x, maxima, p):  # the outlier channels in int8 parts
            plain, factor, added = split
            outlier_x = channels = None
            kernel_w, gram = edit.split_weights(w, (grams or {}).get(x), factor, added)
        else:
            plain, outlier_x, channels = edit.outliers(x, maxima, p)
            kernel_w, gram = edit.int8_part(w, x, channels, grams)
        q, column_scale = int8_columns(kernel_w, gram)
        whole = outputs[0] if len(members) == 1 else f"{p}_all"
        int8_out = whole if channels is None else f"{p}_int8"
        edit.nodes.append(
            helper.make_node(
                "DynamicQuantizeMatMul",
                [
                    plain,
                    edit.const(f"{p}_weight", q),
                    edit.const(f"{p}_scale", column_scale),
                    "",  # weights' zero point: 0
                    edit.const(f"{p}_bias", np.concatenate(biases).astype(np.float32)),
                ],
                [int8_out],
                domain="com.microsoft",
            )
        )
        if channels is not None:
            edit.add_outliers(int8_out, outlier_x, w[channels], whole)
        if len(members) > 1:
            sizes = np.array([m.shape[1] for m in weights], np.int64)
            edit.nodes.append(
                helper.make_node(
                    "Split", [whole, edit.const(f"{p}_sizes", sizes)], outputs, axis=-1
                )
            )
        count += len(members)
    edit.save(target)
    return count


def _gelu_outliers(edit: GraphEdit, groups: dict, readers: dict, maxima) -> dict:
    """{an FFN input's output (bias added): (the GELU's output, its outlier channels)} for
    every FFN whose output projection reads GELU(FFN input) and has outlier channels.

    Those channels then come out of the FFN input as GELU(0) = 0 (their int8 weight columns
    and bias zeroed) and are computed whole in fp32 from the FFN input's own input: a
    (tokens, 384) x (384, 2) product and a FastGelu, where `outliers` masks the 1,536-wide
    GELU output and takes the two channels from int8 products."""
    found = {}
    for x, members in groups.items():
        gelu = edit.producers.get(x)
        channels = edit.outlier_channels(x, maxima)
        if gelu is None or gelu.op_type != "FastGelu" or len(gelu.input) > 1 or channels is None:
            continue
        if len(readers.get(gelu.input[0], [])) == 1 and len(members) == 1:
            found[gelu.input[0]] = (x, channels)
    return found
