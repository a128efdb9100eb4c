"""`plm encode`: token states and pooled sentence embeddings.

preprocess (tokenize once, unpadded, cut at the model's limit) -> _forward (length-sorted
padded batches through `batching.map_padded` on a backend from `plmkit.backends`, pooled in
the batch) -> postprocess (an `EncodeResult`, in input order). `backend="auto"` picks the
fastest backend that agrees with fp32.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from plmkit import backends, loading
from plmkit.batching import map_padded
from plmkit.errors import InvalidInputError
from plmkit.pipelines.checks import require_kind
from plmkit.pooling import POOLINGS, default_pooling, pool
from plmkit.validation import require_positive, require_texts


@dataclass
class EncodeResult:
    embeddings: np.ndarray
    """(N, H) pooled sentence embeddings, in input order."""
    ids: list[list[int]]
    """per text, its token ids (no padding)."""
    hidden_size: int
    pooling: str
    normalized: bool
    token_states: list[np.ndarray] | None = field(default=None, repr=False)
    """per text, (T, H) token states, when asked for."""
    tokenizer: Any = field(default=None, repr=False, compare=False)

    @property
    def shapes(self) -> list[tuple[int, int, int]]:
        """per text, the `last_hidden_state` shape (1, T, H) it has when encoded alone."""
        return [(1, len(x), self.hidden_size) for x in self.ids]

    @functools.cached_property
    def tokens(self) -> list[list[str]]:
        """per text, its tokens: made when first asked for. Callers that want only the
        embeddings (the server's /v1/embeddings, the bench) skip it: 1,000 movie snippets
        took 4-14 ms of a 1.26 s encode (Zen 4)."""
        return [self.tokenizer.convert_ids_to_tokens(x) for x in self.ids]


@dataclass
class _Encoded:
    """One text's forward output."""

    embedding: np.ndarray
    """(H,)"""
    token_states: np.ndarray | None
    """(T, H) without padding, when asked for."""


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
    require_kind(model, "encoder", "encode")  # before auto measures encoder backends
    tokenizer = loading.cached("inference_tokenizer", model)  # no transformers once saved
    encoder = backends.load_encoder_backend(model, "embed", backend)
    ckpt_pooling, ckpt_normalize = default_pooling(loading.model_dir(model))
    pooling = pooling or ckpt_pooling
    normalize = ckpt_normalize if normalize is None else normalize
    max_length = min(
        max_length or tokenizer.model_max_length, encoder.config.max_position_embeddings
    )
    ids = preprocess(texts, tokenizer, max_length)
    encoded = _forward(
        encoder, tokenizer, ids, batch_size, pooling, normalize, return_token_states, show_progress
    )
    return postprocess(
        encoded, ids, tokenizer, encoder.config.hidden_size, pooling, normalize, return_token_states
    )


def preprocess(texts: list[str], tokenizer: Any, max_length: int) -> list[list[int]]:
    """Token ids per text, unpadded (so batches can be sorted by length)."""
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def _forward(
    encoder: backends.EncoderBackend,
    tokenizer: Any,
    ids: list[list[int]],
    batch_size: int,
    pooling: str,
    normalize: bool,
    keep_token_states: bool,
    show_progress: bool,
) -> list[_Encoded]:
    """Pooled embedding (and token states) per text, in input order."""
    rows, workers, run = backends.batch_plan(encoder, batch_size)

    def forward(batch: list[int], input_ids: np.ndarray, attention_mask: np.ndarray) -> list:
        states = run(input_ids, attention_mask)  # (B, T, H) float32
        pooled = pool(states, attention_mask, pooling, normalize)  # (B, H)
        return [
            _Encoded(
                pooled[row], states[row, : len(ids[index])].copy() if keep_token_states else None
            )
            for row, index in enumerate(batch)
        ]

    return map_padded(tokenizer, ids, rows, forward, show_progress, "encoding", workers)


def postprocess(
    encoded: list[_Encoded],
    ids: list[list[int]],
    tokenizer: Any,
    hidden_size: int,
    pooling: str,
    normalize: bool,
    keep_token_states: bool,
) -> EncodeResult:
    return EncodeResult(
        embeddings=np.stack([e.embedding for e in encoded]),
        ids=ids,
        hidden_size=hidden_size,
        pooling=pooling,
        normalized=normalize,
        token_states=[e.token_states for e in encoded] if keep_token_states else None,
        tokenizer=tokenizer,
    )


def check_embeddings_path(path: str | Path) -> Path:
    """`path` as a Path, refused before any work when embeddings cannot be written there."""
    path = Path(path)
    if path.suffix not in {".npy", ".jsonl"}:
        raise InvalidInputError(
            f"cannot write embeddings to '{path.name}'",
            "use an --out path ending in .npy or .jsonl (or - for JSONL on stdout)",
        )
    return path


def save_embeddings(
    result: EncodeResult, texts: Sequence[str], path: str | Path | TextIO
) -> Path | TextIO:
    """Write embeddings as .npy (N, H) float32 or JSONL ({"text", "embedding"} a line) to
    a .jsonl file or a text stream (stdout)."""
    if not isinstance(path, (str, Path)):
        _write_jsonl(result, texts, path)
        return path
    path = check_embeddings_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, result.embeddings.astype(np.float32), allow_pickle=False)
    else:
        with path.open("w", encoding="utf-8") as handle:
            _write_jsonl(result, texts, handle)
    return path


def _write_jsonl(result: EncodeResult, texts: Sequence[str], handle: TextIO) -> None:
    for text, vector in zip(texts, result.embeddings, strict=True):
        row = {"text": text, "embedding": [round(float(v), 6) for v in vector]}
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
