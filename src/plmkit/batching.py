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
    workers: int = 1,
) -> list[R]:
    """`forward(indices, input_ids, attention_mask)` returns one result per row of each
    length-sorted batch; the results come back in input order.

    `workers` > 1 runs that many batches at once on threads (for engines that run a batch on
    one core and release the GIL: `backends.batch_plan`), with a few batches padded ahead."""
    results: list[tuple[int, R]] = []
    batches = padded_batches(tokenizer, ids, batch_size, show_progress, description)
    if workers <= 1 or len(ids) <= batch_size:  # one batch: no threads to start
        for batch, input_ids, attention_mask in batches:
            rows = forward(batch, input_ids, attention_mask)
            results.extend(zip(batch, rows, strict=True))
        return restore_order(results)
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def run(batch: list[int], input_ids: np.ndarray, attention_mask: np.ndarray) -> list:
        return list(zip(batch, forward(batch, input_ids, attention_mask), strict=True))

    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in batches:
            pending.append(pool.submit(run, *item))
            if len(pending) >= 2 * workers:  # memory stays a few batches deep
                results.extend(pending.popleft().result())
        while pending:
            results.extend(pending.popleft().result())
    return restore_order(results)
