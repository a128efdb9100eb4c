"""What every benchmark row records, and the small tools that measure it."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Row:
    """One measured engine in one scenario."""

    scenario: str
    name: str
    """What ran, e.g. 'transformers pipeline (defaults)' or 'plmkit onnx-int8'."""
    throughput: float
    unit: str
    """texts/s or tokens/s."""
    baseline: bool = False
    p50_ms: float | None = None
    p95_ms: float | None = None
    """Latency of one request (one text; for generation one token after the first)."""
    ttft_ms: float | None = None
    peak_mem_mb: float | None = None
    """Peak resident memory while the row ran, above what the process held before it."""
    quality: str = ""
    """Agreement with fp32 / accuracy, in words."""
    ratio: float | None = None
    """throughput / the throughput of `vs`."""
    vs: str = ""
    limit: float | None = None
    """The machine's ceiling for this row, in `unit` (from the measured limits)."""
    limit_from: str | None = None
    """The key of the limits `limit` was computed from (a run's end may raise it)."""
    note: str = ""
    rounds: int | None = None
    """Timed rounds, the best of which counts (fewer than asked for a slow engine: see
    harness.ROUND_BUDGET_S)."""
    round_seconds: list[float] | None = None
    """Each timed round's seconds, in order: one slow round is a spell, an engine slow in all
    of them was slow throughout (session 16 saw one ONNX scenario a run so and could not tell
    more from `rounds` alone; session 17 traced it to a session shared by two threads,
    backends/onnx_sessions.py)."""

    @property
    def of_limit(self) -> float | None:
        return self.throughput / self.limit if self.limit else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["of_limit"] = None if self.of_limit is None else round(self.of_limit, 3)
        return {k: _rounded(v) for k, v in data.items()}


def _rounded(value):
    """Floats (and lists of them) to 3 decimals for the JSON report."""
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return round(value, 3) if isinstance(value, float) else value


def percentiles(seconds: list[float]) -> tuple[float | None, float | None]:
    """(p50, p95) in milliseconds."""
    if not seconds:
        return None, None
    p50, p95 = np.percentile(np.asarray(seconds) * 1000, [50, 95])
    return float(p50), float(p95)


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class PeakMemory:
    """Samples this process's RSS every 5 ms; `.mb` is the peak above the starting RSS,
    `.retained_mb` what is still held at the end."""

    def __init__(self) -> None:
        self.mb = self.retained_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self._start = self._peak = _rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        end = _rss_bytes()
        self._peak = max(self._peak, end)
        self.mb = (self._peak - self._start) / 2**20
        self.retained_mb = max(end - self._start, 0) / 2**20


def timed(function, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start
