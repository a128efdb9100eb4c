"""bench/measure.py: the row record, percentiles, peak memory and timing."""

from __future__ import annotations

import mmap
import time

import pytest

from plmkit.bench.measure import PeakMemory, Row, percentiles, timed


def test_percentiles_in_milliseconds():
    assert percentiles([]) == (None, None)
    p50, p95 = percentiles([0.001, 0.002, 0.003, 0.004])
    assert p50 == pytest.approx(2.5) and 3.5 < p95 <= 4.0


def test_peak_memory_sees_a_64_mib_block():
    """The block is a fresh anonymous mapping, touched page by page: a bytearray comes from the
    C allocator, which may hand back memory a test before this one freed and the process still
    holds (CI on an AMX Xeon saw 0.004 MB after the whole suite), so RSS need not grow."""
    size = 64 * 2**20
    with mmap.mmap(-1, size) as block:
        with PeakMemory() as memory:
            for offset in range(0, size, mmap.PAGESIZE):
                block[offset] = 1
    assert memory.mb > 32


def test_row_to_dict_rounds_and_adds_of_limit():
    row = Row("s", "fast", 40.123456, "things/s", limit=80.0, p50_ms=1.23456)
    data = row.to_dict()
    assert data["throughput"] == 40.123 and data["p50_ms"] == 1.235
    assert data["of_limit"] == 0.502 and data["limit"] == 80.0
    assert Row("s", "no limit", 1.0, "x/s").to_dict()["of_limit"] is None
    rounds = Row("s", "r", 1.0, "x/s", round_seconds=[1.23456, 2.0]).to_dict()["round_seconds"]
    assert rounds == [1.235, 2.0]


def test_timed_returns_result_and_seconds():
    result, seconds = timed(lambda x: (time.sleep(0.01), x)[1], 7)
    assert result == 7 and 0.009 < seconds < 1.0
