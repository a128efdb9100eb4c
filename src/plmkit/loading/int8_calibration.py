"""What the int8 rewrites (onnx_int8.py) learn from a few everyday texts run through the fp32
graph: each weight MatMul's input, its largest channels (the outlier channels) and X^T X,
and with the latter the weights' int8 rounding (GPTQ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def input_statistics(
    path: Path, feeds: list[dict[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(maxima, grams): for every weight MatMul's input tensor, max |x| per channel (where
    the outlier channels are) and X^T X (K, K, float64), over the real tokens of `feeds`
    (the graph's inputs and an attention_mask: 1 where a token is real), run through the fp32
    graph at `path`. The grams weigh each weight's rounding error (`int8_columns`)."""
    import onnx

    from plmkit.loading.onnx_edits import probe_session

    model = onnx.load(str(path))
    weights = {i.name for i in model.graph.initializer}
    inputs = sorted(
        {n.input[0] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights}
    )
    session = probe_session(model, inputs)
    maxima: dict[str, np.ndarray] = {}
    grams: dict[str, np.ndarray] = {}
    graph_inputs = {i.name for i in session.get_inputs()}
    for feed in feeds:
        values = session.run(inputs, {k: v for k, v in feed.items() if k in graph_inputs})
        real = feed["attention_mask"].astype(bool)
        for name, value in zip(inputs, values, strict=True):
            flat = value.reshape(-1, value.shape[-1])
            rows = (value[real] if value.shape[:2] == real.shape else flat).astype(np.float64)
            top = np.abs(rows).max(0)
            maxima[name] = np.maximum(maxima[name], top) if name in maxima else top
            grams[name] = grams.get(name, 0) + rows.T @ rows
    return maxima, grams


def int8_columns(w: np.ndarray, gram: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`w` (K, N) as symmetric int8 with one fp32 scale per output column (|w| max / 127).

    With `gram` (X^T X of the inputs, K x K), rows are rounded in turn and each row's rounding
    error is carried into the rows not yet rounded, weighted by how the inputs correlate
    (GPTQ, Frantar et al., 2023, with the scales fixed first): the products x @ w, not the
    weights one by one, stay close. See GPTQ_DAMPING."""
    scale = np.maximum(np.abs(w).max(0), 1e-12) / 127
    if gram is None:
        return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale.astype(np.float32)
    k = w.shape[0]
    h = gram.astype(np.float64).copy()
    dead = np.diag(h) <= 0  # channels that never fire (or go through fp32): their rows alone
    h[dead, :] = h[:, dead] = 0
    h[np.diag_indices(k)] += GPTQ_DAMPING * max(float(np.mean(np.diag(h))), 1e-12)
    h[dead, dead] = 1
    upper = np.linalg.cholesky(np.linalg.inv(h)).T  # the inverse's upper Cholesky factor
    steps = w.astype(np.float64) / scale  # in units of each column's step
    q = np.empty_like(steps)
    for row in range(k):
        q[row] = np.clip(np.round(steps[row]), -127, 127)
        error = (steps[row] - q[row]) / upper[row, row]
        steps[row + 1 :] -= np.outer(upper[row, row + 1 :], error)
    return q.astype(np.int8), scale.astype(np.float32)


GPTQ_DAMPING = 0.01
"""Added to X^T X's diagonal, as a share of its mean, before inverting (GPTQ's 1%): the
calibration texts' few hundred tokens leave X^T X of a 1,536-wide input singular."""
