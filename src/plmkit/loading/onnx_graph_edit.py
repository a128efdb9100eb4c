"""The graph an int8 rewrite (onnx_int8.py) edits: its nodes and initialisers, the outlier
channels of each quantised input (LLM.int8()'s decomposition) and the weights as the int8
kernels see them, written back by `GraphEdit.save`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUTLIER_CHANNELS = 2
"""Input channels per quantised tensor that bypass int8 (LLM.int8()'s decomposition): the
ones with the largest |x| on the calibration texts. BERT-style layers carry a few channels
10-20x larger than the rest (MiniLM: 28.5 against a median of 1.7 in layer 0's FFN input);
one such channel sets every token's scale and coarsens the others' steps. Kept in fp32 (a
(tokens, 2) x (2, N) matmul) and zeroed in the int8 input, MiniLM's worst built-in sentence
went 0.9756 -> 0.9953 at 3.5% less speed than plain int8 (onnx_int8.py's table)."""

SPLIT_PARTS_MAX = 8
"""Most parts `GraphEdit.split_outliers` divides a channel into (MiniLM's need 2-5): past
that the int8 product widens by more than the fp32 path costs."""

OUTLIERS_SKIP = ("Reshape",)
"""Inputs made by these ops get no outlier channels: in a BERT-style export, the Reshape that
merges the attention heads, the attention output projection's input. Its channels stand out
little (MiniLM, calibration texts: its range 1.0-1.4x its range without the two largest
channels, against up to 4.8x at the FFN's inputs), and without their fp32 path the worst
built-in sentence stayed within 0.0002 of the cosine with it (Zen 4, ONNX fp32 reference),
while those paths cost 1.5% of the run (one thread, 1,000 movie snippets, each batch run by
both graphs in turn)."""


class GraphEdit:
    """The nodes and initialisers of a rewritten graph, written back by `save`."""

    def __init__(self, source: Path) -> None:
        import onnx
        from onnx import numpy_helper

        from plmkit.loading.onnx_edits import static_reshapes

        self.model = onnx.load(str(source))
        static_reshapes(self.model)
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

    def outlier_channels(self, x: str, maxima: dict[str, np.ndarray] | None):
        """The OUTLIER_CHANNELS largest channels of input `x` (sorted indices), or None: no
        maxima for it, or `x` is the attention's merged heads (OUTLIERS_SKIP)."""
        producer = self.producers.get(x)
        if maxima is None or x not in maxima or (producer and producer.op_type in OUTLIERS_SKIP):
            return None
        return np.sort(np.argsort(-maxima[x])[:OUTLIER_CHANNELS]).astype(np.int64)

    def outliers(self, x: str, maxima: dict[str, np.ndarray] | None, prefix: str):
        """(x with its outlier channels zeroed, those channels (.., k), their indices) for
        input `x`, as new nodes; (x, None, None) where it has none (`outlier_channels`)."""
        from onnx import helper

        channels = self.outlier_channels(x, maxima)
        if channels is None:
            return x, None, None
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

    def split_outliers(self, x: str, maxima: dict[str, np.ndarray] | None, prefix: str):
        """(x with each outlier channel divided into equal parts that each fit the range of
        the other channels, the parts past the first side by side after all channels, as new
        nodes; the factor per channel; the channel of each added part), or None: no outlier
        channels, none larger than the rest, or one that needs more than SPLIT_PARTS_MAX
        parts (it goes through fp32 then, `outliers`). For one scale per tensor: the int8
        kernel takes the channels whole, each part on the other channels' steps."""
        from onnx import helper

        channels = self.outlier_channels(x, maxima)
        if channels is None:
            return None
        rest = max(float(np.delete(maxima[x], channels).max()), 1e-12)
        parts = np.maximum(np.ceil(maxima[x][channels] / rest), 1).astype(int)
        if (parts == 1).all() or parts.max() > SPLIT_PARTS_MAX:
            return None
        factor = np.ones(maxima[x].shape[0], np.float32)
        factor[channels] = 1 / parts
        added = np.repeat(channels, parts - 1).astype(np.int64)
        self.nodes += [
            helper.make_node("Mul", [x, self.const(f"{prefix}_parts", factor)], [f"{prefix}_part"]),
            helper.make_node(
                "Gather",
                [f"{prefix}_part", self.const(f"{prefix}_added", added)],
                [f"{prefix}_more"],
                axis=-1,
            ),
            helper.make_node(
                "Concat", [f"{prefix}_part", f"{prefix}_more"], [f"{prefix}_split"], axis=-1
            ),
        ]
        return f"{prefix}_split", factor, added

    @staticmethod
    def split_weights(w: np.ndarray, gram, factor: np.ndarray, added: np.ndarray) -> tuple:
        """(w, X^T X or None) for an input split by `split_outliers`: each added part takes a
        copy of its channel's weight row, and X^T X follows the split input (X' = X T)."""
        k = w.shape[0]
        wide = np.concatenate([w, w[added]], axis=0)
        if gram is None:
            return wide, None
        t = np.zeros((k, k + len(added)))
        t[np.arange(k), np.arange(k)] = factor
        t[added, k + np.arange(len(added))] = factor[added]
        return wide, t.T @ gram @ t

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
        """Each exact GELU of the source graph becomes FastGelu (onnx_edits.approximate_gelu),
        before any rewrite; returns how many. int8 copies compute GELU in its tanh form:
        within 1e-3 of the exact GELU, far below int8's own error, in one kernel where ONNX
        Runtime's Gelu evaluates erf; the fp32 export keeps the exact GELU. MiniLM, onnx-int8
        on 1,000 movie snippets (Zen 4): cosine to fp32 mean 0.9983 against 0.9984 with the
        exact GELU."""
        from plmkit.loading.onnx_edits import approximate_gelu

        graph = self.model.graph
        nodes, count = approximate_gelu(list(graph.node), self.weights)
        del graph.node[:]
        graph.node.extend(nodes)
        self.producers = {o: n for n in nodes for o in n.output}
        return count

    def save(self, target: Path) -> None:
        import onnx
        from onnx import helper

        from plmkit.loading.onnx_edits import prune

        graph = self.model.graph
        nodes = prune(self.nodes, {o.name for o in graph.output})  # static_reshapes' leftovers
        used = {i for n in nodes for i in n.input}
        kept = [i for i in list(graph.initializer) + self.added if i.name in used]
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.initializer[:]
        graph.initializer.extend(kept)
        if not any(o.domain == "com.microsoft" for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
        onnx.save(self.model, str(target))
