"""Sentence embeddings from token states: cls / mean / max pooling, optional L2-normalise.

The same two steps as sentence-transformers' Pooling -> Normalize modules; the defaults of
a sentence-transformers checkpoint (its 1_Pooling/config.json and modules.json) are read so
that `minilm` embeddings match `SentenceTransformer.encode`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from plmkit.errors import InvalidInputError

POOLINGS = ("cls", "mean", "max")


def pool(
    states: np.ndarray, attention_mask: np.ndarray, how: str, normalize: bool = False
) -> np.ndarray:
    """(B, T, H) token states + (B, T) mask -> (B, H) sentence embeddings.

    numpy, with sentence-transformers' arithmetic (mean: masked sum / clamped count; max:
    padding set to the dtype's minimum; L2 norm clamped at 1e-12), so an encode on an
    ONNX backend never imports torch.
    """
    states = np.asarray(states)
    mask = np.asarray(attention_mask)[..., None].astype(states.dtype)  # (B, T, 1)
    if how == "cls":
        out = states[:, 0]
    elif how == "mean":
        out = (states * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    elif how == "max":
        out = np.where(mask == 0, np.finfo(states.dtype).min, states).max(1)
    else:
        raise InvalidInputError(f"unknown pooling '{how}'", f"use one of: {', '.join(POOLINGS)}")
    if normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
    return out


def default_pooling(model_dir: Path) -> tuple[str, bool]:
    """(pooling, normalize) from a sentence-transformers layout, else ('mean', False)."""
    how, normalize = "mean", False
    pooling_config = model_dir / "1_Pooling" / "config.json"
    if pooling_config.exists():
        config = json.loads(pooling_config.read_text())
        keys = {
            "cls": "pooling_mode_cls_token",
            "mean": "pooling_mode_mean_tokens",
            "max": "pooling_mode_max_tokens",
        }
        how = next((name for name, key in keys.items() if config.get(key)), how)
    modules = model_dir / "modules.json"
    if modules.exists():
        normalize = any("Normalize" in m.get("type", "") for m in json.loads(modules.read_text()))
    return how, normalize
