"""`padding_report(lengths, batch_size, ...)`: the tokens a batching scheme pays for, against
padding every text to `pad_to` (the reference recipe), so recipes can report the waste avoided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def padding_report(
    lengths: Sequence[int],
    batch_size: int,
    *,
    group_by_length: bool,
    pad_to: int = 512,
    pad_to_multiple_of: int | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """Tokens paid for under dynamic padding (with or without length grouping) vs. padding
    every text to `pad_to`; `waste_avoided` is the share of the fixed-length tokens saved.
    Batches are drawn with HF's own length-grouped (or random) order for `seed`.
    """
    import numpy as np
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = np.asarray(lengths, dtype=np.int64)
    generator = torch.Generator().manual_seed(seed)
    if group_by_length and len(lengths):
        order = np.asarray(
            get_length_grouped_indices(lengths.tolist(), batch_size, generator=generator)
        )
    else:
        order = torch.randperm(len(lengths), generator=generator).numpy()
    paid = 0
    for start in range(0, len(order), batch_size):
        longest = int(lengths[order[start : start + batch_size]].max())
        if pad_to_multiple_of:
            longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
        paid += longest * len(order[start : start + batch_size])
    real = int(lengths.sum())
    fixed = int(len(lengths) * pad_to)
    return {
        "real_tokens": real,
        "padded_tokens": paid,
        "padding_share": round(1 - real / paid, 4) if paid else 0.0,
        "fixed_length": pad_to,
        "fixed_length_tokens": fixed,
        "fixed_length_padding_share": round(1 - real / fixed, 4) if fixed else 0.0,
        "waste_avoided": round(1 - paid / fixed, 4) if fixed else 0.0,
        "max_length": int(lengths.max()) if len(lengths) else 0,
        "mean_length": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
    }
