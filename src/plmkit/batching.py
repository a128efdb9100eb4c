"""Length-sorted batching that hands results back in input order.

Sorting by length before batching removes most padding (the main cost of naive batching
on a CPU); `restore_order` undoes the sort so callers never see it. `padded_batches` and
`map_padded` are the one copy of the sort -> pad -> forward -> restore-order loop that every
pipeline, backend probe and benchmark runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from plmkit.progress import progress

T = TypeVar("T")
R = TypeVar("R")


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, descending: bool = True
) -> Iterator[list[int]]:
    """Index batches over items sorted by length (longest first: memory peaks early)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=descending)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def restore_order(indexed: Sequence[tuple[int, T]]) -> list[T]:
    """[(original_index, result), ...] in any order -> results in original order."""
    out: list = [None] * len(indexed)
    for index, value in indexed:
        out[index] = value
    return out


def padded_batches(
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    batch_size: int,
    show_progress: bool = False,
    description: str = "batches",
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """(input indices, input_ids (B, T) int64, attention_mask (B, T) int64) for each
    length-sorted batch of the token-id lists `ids`, padded by `tokenizer`."""
    batches = list(length_sorted_batches([len(x) for x in ids], batch_size))
    for batch in progress(batches, description, enabled=show_progress):
        padded = tokenizer.pad({"input_ids": [list(ids[i]) for i in batch]}, return_tensors="np")
        input_ids = padded["input_ids"].astype(np.int64)  # (B, T)
        yield batch, input_ids, padded["attention_mask"].astype(np.int64)  # (B, T)


def map_padded(
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    batch_size: int,
    forward: Callable[[list[int], np.ndarray, np.ndarray], Sequence[R]],
    show_progress: bool = False,
    description: str = "batches",
) -> list[R]:
    """`forward(indices, input_ids, attention_mask)` returns one result per row of each
    length-sorted batch; the results come back in input order."""
    results: list[tuple[int, R]] = []
    batches = padded_batches(tokenizer, ids, batch_size, show_progress, description)
    for batch, input_ids, attention_mask in batches:
        rows = forward(batch, input_ids, attention_mask)
        results.extend(zip(batch, rows, strict=True))
    return restore_order(results)
