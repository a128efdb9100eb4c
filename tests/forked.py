"""Running a piece of a test in a forked child (what a server's or a DataLoader's fork does)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import pytest


def in_forked_child(work: Callable[[], object], hung: str) -> object:
    """`work()`'s result, computed in a forked child of this process; the test fails with
    `hung` if the child has not finished in 60 s (a lock or thread pool copied mid-use)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=lambda: queue.put(work()))
    process.start()
    process.join(timeout=60)
    if process.is_alive():
        process.kill()
        pytest.fail(hung)
    return queue.get(timeout=5)
