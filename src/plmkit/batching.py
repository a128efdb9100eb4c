"""Length-sorted batching that hands results back in input order.

Sorting by length before batching removes most padding (the main cost of naive batching
on a CPU); `restore_order` undoes the sort so callers never see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


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
