"""`plm encode`: token states and pooled sentence embeddings.

Inputs are sorted by length and batched, then returned in input order. The forward pass
runs on a backend from `plmkit.backends` (`auto`: the fastest one that agrees with fp32).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plmkit import backends, loading
from plmkit.batching import length_sorted_batches, restore_order
from plmkit.errors import InvalidInputError
from plmkit.pooling import POOLINGS, default_pooling, pool
from plmkit.progress import progress
from plmkit.validation import require_positive, require_texts


@dataclass
class EncodeResult:
    embeddings: np.ndarray
    """(N, H) pooled sentence embeddings, in input order."""
    shapes: list[tuple[int, int, int]]
    """per text, the `last_hidden_state` shape (1, T, H) it has when encoded alone."""
    tokens: list[list[str]]
    pooling: str
    normalized: bool
    token_states: list[np.ndarray] | None = field(default=None, repr=False)
    """per text, (T, H) token states, when asked for."""


def encode(
    texts: str | Sequence[str],
    model: str = "minilm",
    *,
    pooling: str | None = None,
    normalize: bool | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    return_token_states: bool = False,
    show_progress: bool = False,
    backend: str = "auto",
) -> EncodeResult:
    """Encode texts; pooling and normalize default to the checkpoint's own settings.

    `backend`: auto, torch-fp32, torch-bf16, torch-int8, onnx-fp32, onnx-int8 (or an alias).
    """
    texts = require_texts(texts)
    require_positive(batch_size, "batch_size")
    if pooling is not None and pooling not in POOLINGS:
        raise InvalidInputError(
            f"unknown pooling '{pooling}'", f"use one of: {', '.join(POOLINGS)}"
        )
    tokenizer = loading.cached("tokenizer", model)
    encoder = backends.load_encoder_backend(model, "embed", backend)
    ckpt_pooling, ckpt_normalize = default_pooling(loading.model_dir(model))
    pooling = pooling or ckpt_pooling
    normalize = ckpt_normalize if normalize is None else normalize
    max_length = min(
        max_length or tokenizer.model_max_length, encoder.config.max_position_embeddings
    )

    # preprocess: tokenize once, without padding, to sort by length
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    results: list[tuple[int, tuple]] = []
    batches = list(length_sorted_batches([len(x) for x in ids], batch_size))
    for batch in progress(batches, "encoding", enabled=show_progress):
        padded = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="np")
        # _forward
        states = encoder.forward(padded["input_ids"], padded["attention_mask"])  # float32
        pooled = pool(states, padded["attention_mask"], pooling, normalize)  # (B, H)
        # postprocess
        for row, index in enumerate(batch):
            length = len(ids[index])
            token_states = states[row, :length].copy() if return_token_states else None
            results.append((index, (pooled[row], length, token_states)))
    ordered = restore_order(results)
    hidden = encoder.config.hidden_size
    return EncodeResult(
        embeddings=np.stack([r[0] for r in ordered]),
        shapes=[(1, r[1], hidden) for r in ordered],
        tokens=[tokenizer.convert_ids_to_tokens(x) for x in ids],
        pooling=pooling,
        normalized=normalize,
        token_states=[r[2] for r in ordered] if return_token_states else None,
    )


def save_embeddings(result: EncodeResult, texts: Sequence[str], path: str | Path) -> Path:
    """Write embeddings as .npy (N, H) float32 or .jsonl ({"text", "embedding"} a line)."""
    path = Path(path)
    if path.suffix not in {".npy", ".jsonl"}:
        raise InvalidInputError(
            f"cannot write embeddings to '{path.name}'",
            "use an --out path ending in .npy or .jsonl",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, result.embeddings.astype(np.float32), allow_pickle=False)
    else:
        with path.open("w", encoding="utf-8") as handle:
            for text, vector in zip(texts, result.embeddings, strict=True):
                row = {"text": text, "embedding": [round(float(v), 6) for v in vector]}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
