"""int8 ONNX encoders: our own rewrites of the exported fp32 graph.

Both quantise every MatMul whose right-hand side is a weight (but the head, `keep`): its
weights once, symmetric int8, one scale per output column, rounded against the inputs seen on
CALIBRATION_TEXTS (GPTQ); its input at run time; and both send each quantised input's
OUTLIER_CHANNELS largest channels (but the attention output's) through fp32 instead
(LLM.int8()'s decomposition, Dettmers et al., 2022): found on CALIBRATION_TEXTS, a thin
fp32 matmul, zeroed in the int8 input. They differ in the activation scale:

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
attention output's input (OUTLIERS_SKIP), FastGelu (`_GraphEdit.approximate_gelu`), and
weights rounded against their inputs on the calibration texts with the outlier rows left out
of the column scales (`int8_columns`, GPTQ). The first two ran 1.03x faster paired batch by
batch and moved the worst built-in sentence by 0.0002-0.0008 either way (0.9899 ->
0.9897-0.9905); the weight rounding took it to 0.9912 (0.9918 against torch, where v6
without it measured 0.9897 and `auto` turned int8 down). On the fine-tuned classifier's
labelled rows int8 then agreed with fp32 on 99.8% of labels (v5: 99.0%).

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

INT8_VERSION = 6
"""Part of the cache key of int8 copies: 1 was quantize_dynamic (one scale per batch), 2 had
no outlier channels (int8-partial kept each layer's value and FFN output in fp32), 3's int8
had one scale per token, no outlier channels and an int8 head, 4 the attention's NaN guards
(exports.drop_softmax_nan_guards; the same results), 5 weights rounded one by one, the exact
GELU and outlier channels at the attention output's input (6: int8_columns' GPTQ,
FastGelu, OUTLIERS_SKIP)."""


def matmuls_to_keep(path: Path) -> list[str]:
    """The MatMul / Gemm nodes that stay fp32: every one outside the encoder layers (the
    classifier head and pooler: a few FLOPs that decide the label). Inside the layers the
    outlier channels stay fp32 instead (OUTLIER_CHANNELS)."""
    import onnx

    nodes = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in ("MatMul", "Gemm")]
    return [n for n in nodes if "/layer." not in n and "/layers." not in n]


OUTLIER_CHANNELS = 2
"""Input channels per quantised tensor that bypass int8 (LLM.int8()'s decomposition): the
ones with the largest |x| on the calibration texts. BERT-style layers carry a few channels
10-20x larger than the rest (MiniLM: 28.5 against a median of 1.7 in layer 0's FFN input);
one such channel sets every token's scale and coarsens the others' steps. Kept in fp32 (a
(tokens, 2) x (2, N) matmul) and zeroed in the int8 input, MiniLM's worst built-in sentence
went 0.9756 -> 0.9953 at 3.5% less speed than plain int8 (see the table above)."""

OUTLIERS_SKIP = ("Reshape",)
"""Inputs made by these ops get no outlier channels: in a BERT-style export, the Reshape that
merges the attention heads, the attention output projection's input. Its channels stand out
little (MiniLM, calibration texts: its range 1.0-1.4x its range without the two largest
channels, against up to 4.8x at the FFN's inputs), and without their fp32 path the worst
built-in sentence stayed within 0.0002 of the cosine with it (Zen 4, ONNX fp32 reference),
while those paths cost 1.5% of the run (one thread, 1,000 movie snippets, each batch run by
both graphs in turn)."""


class _GraphEdit:
    """The nodes and initialisers of a rewritten graph, written back by `save`."""

    def __init__(self, source: Path) -> None:
        import onnx
        from onnx import numpy_helper

        self.model = onnx.load(str(source))
        self.weights = {i.name: i for i in self.model.graph.initializer}
        self.producers = {o: n for n in self.model.graph.node for o in n.output}
        self.nodes: list = []
        self.added: list = []
        self.array = lambda name: numpy_helper.to_array(self.weights[name])
        """An initialiser's values, by name."""

    def weight(self, node) -> np.ndarray | None:
        """The 2-D fp32 weight a MatMul multiplies by, or None (not a weight MatMul)."""
        if node.op_type != "MatMul" or node.input[1] not in self.weights:
            return None
        w = self.array(node.input[1])
        return w if w.ndim == 2 and w.dtype == np.float32 else None

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def outliers(self, x: str, maxima: dict[str, np.ndarray] | None, prefix: str):
        """(x with its outlier channels zeroed, those channels (.., k), their indices) for
        input `x`, as new nodes; (x, None, None) without maxima for it, or where `x` is the
        attention's merged heads (OUTLIERS_SKIP)."""
        from onnx import helper

        producer = self.producers.get(x)
        if maxima is None or x not in maxima or (producer and producer.op_type in OUTLIERS_SKIP):
            return x, None, None
        channels = np.sort(np.argsort(-maxima[x])[:OUTLIER_CHANNELS]).astype(np.int64)
        mask = np.ones(maxima[x].shape[0], np.float32)
        mask[channels] = 0
        self.nodes += [
            helper.make_node("Mul", [x, self.const(f"{prefix}_mask", mask)], [f"{prefix}_rest"]),
            helper.make_node(
                "Gather", [x, self.const(f"{prefix}_idx", channels)], [f"{prefix}_out"], axis=-1
            ),
        ]
        return f"{prefix}_rest", f"{prefix}_out", channels

    @staticmethod
    def int8_part(w: np.ndarray, x: str, channels, grams: dict | None) -> tuple:
        """(w, X^T X or None) as the int8 kernel sees them: the outlier channels' rows are
        zero there (they go through fp32), so they set no column's scale."""
        gram = None if grams is None else grams.get(x)
        if channels is None:
            return w, gram
        w = w.copy()
        w[channels] = 0
        if gram is not None:
            gram = gram.copy()
            gram[channels, :] = gram[:, channels] = 0
        return w, gram

    def add_outliers(self, int8_out: str, outlier_x: str, rows: np.ndarray, out: str) -> None:
        """out = int8_out + outlier_x @ rows (the outlier channels' weight rows, fp32)."""
        from onnx import helper

        self.nodes += [
            helper.make_node(
                "MatMul", [outlier_x, self.const(f"{out}_outlier_rows", rows)], [f"{out}_outliers"]
            ),
            helper.make_node("Add", [int8_out, f"{out}_outliers"], [out]),
        ]

    def approximate_gelu(self) -> int:
        """Each exact GELU becomes FastGelu (onnx_edits.approximate_gelu); returns how many.
        int8 copies compute GELU in its tanh form: within 1e-3 of the exact GELU, far below
        int8's own error, in one kernel where ONNX Runtime's Gelu evaluates erf; the fp32
        export keeps the exact GELU. MiniLM, onnx-int8 on 1,000 movie snippets (Zen 4): cosine
        to fp32 mean 0.9983 against 0.9984 with the exact GELU."""
        from plmkit.loading.onnx_edits import approximate_gelu

        self.nodes, count = approximate_gelu(self.nodes, self.weights)
        return count

    def save(self, target: Path) -> None:
        import onnx
        from onnx import helper

        graph = self.model.graph
        used = {i for n in self.nodes for i in n.input}
        kept = [i for i in list(graph.initializer) + self.added if i.name in used]
        del graph.node[:]
        graph.node.extend(self.nodes)
        del graph.initializer[:]
        graph.initializer.extend(kept)
        if not any(o.domain == "com.microsoft" for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
        onnx.save(self.model, str(target))


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

    edit = _GraphEdit(source)
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
    edit.approximate_gelu()
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
    outlier channels as in `quantize_per_token`."""
    from onnx import helper

    edit = _GraphEdit(source)
    graph = edit.model.graph
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    groups: dict[str, list] = {}  # input -> the weight MatMuls reading it
    for node in graph.node:
        if edit.weight(node) is not None and node.name not in keep:
            groups.setdefault(node.input[0], []).append(node)

    def bias_add(node, columns: int):
        """(the Add of a bias after `node`, the bias), or (None, zeros)."""
        after = readers.get(node.output[0], [])
        if len(after) == 1 and after[0].op_type == "Add":
            other = next(i for i in after[0].input if i != node.output[0])
            if other in edit.weights:
                bias = edit.array(other)
                if bias.shape == (columns,) and bias.dtype == np.float32:
                    return after[0], bias
        return None, np.zeros(columns, np.float32)

    folded: set[str] = set()  # outputs of the bias Adds now inside a kernel
    done: set[str] = set()
    count = 0
    for node in graph.node:
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
        w = np.concatenate(weights, axis=1)
        p = f"dq8_{len(done)}"
        plain, outlier_x, channels = edit.outliers(x, maxima, p)
        q, column_scale = int8_columns(*edit.int8_part(w, x, channels, grams))
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
    edit.approximate_gelu()
    edit.save(target)
    return count
