"""Threads for one llama.cpp sequence: measured per CPU, GGUF file and load, then cached.

A fixed rule from one machine was wrong on the next: smollm2 Q4_1 decoded at 148 tok/s on
1 thread and 170 on 2 on a quiet 2-core Zen 5, but 44 and 67 on a 2-core Zen 3 (one thread
cost a third there); and with another process holding a core, 2 threads with OpenMP's
spinning waits fell to about 2 tok/s. So each candidate count decodes a few tokens and the
fastest wins, fewer threads unless more are at least MIN_GAIN faster. The answer is cached
in `cache_dir()/decode_threads.json` beside the other `auto` measurements, keyed by the
CPU signature and affinity, llama-cpp-python's version and thread pool (OpenMP's or ggml's:
`thread_pool`), OMP_WAIT_POLICY, the file (path,
size, mtime) and the load class ("quiet", or "busy" when other processes keep
BUSY_CORES or more busy). A quiet answer of 1 thread also serves a busy machine (sharing
never makes more threads pay), so then the load is not even probed: a cached start costs
one JSON read. PLMKIT_LLAMA_THREADS overrides all of it.

The cached answer is where a backend starts; `ThreadTuner` then keeps checking it on the
tokens it streams, since the best count also moved on one machine: on a 2-core Zen 4 (KVM)
the bf16 GGUF measured 72 tok/s on 1 thread and 52 on 2 one session (cached: 1), and 57-62
against 72-81 in blocks of 16 tokens alternating in one stream the next.
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Callable
from pathlib import Path

from plmkit.hardware import busy_cores, cpu_info
from plmkit.paths import cache_dir, package_version, read_json, remember

log = logging.getLogger("plmkit")

BUSY_CORES = 0.5
"""Cores other processes keep busy from which the machine counts as "busy"."""
MIN_GAIN = 1.05
"""More threads are chosen only when at least this much faster than fewer."""
MAX_THREADS = 8
"""Per-token work of a small model does not split further usefully; it bounds the probe."""
LOAD_PROBE_SECONDS = 0.1
PROBE_ROUNDS = 4
"""Rounds of the probe: each count is timed once a round, the order reversed every other
round (1 2, 2 1, 1 2, 2 1), and each count's median counts, so that a spell of a faster or
slower host (a shared host's speed drifts within seconds) or the first pass over the
weights' pages favours no count. The probe before (one count's 2 rounds, best of them, then
the next's) picked 1 thread in 11 of 12 bench runs on a 2-core Zen 4 (KVM) whose whole
128-token streams ran 25-30% faster on 2."""


def _cache_path() -> Path:
    return cache_dir() / "decode_threads.json"


def candidate_counts(available: int) -> list[int]:
    """1, 2, 4, ... up to the CPUs this process may use (and that count itself), <= 8."""
    top = max(1, min(available, MAX_THREADS))
    counts, n = [], 1
    while n < top:
        counts.append(n)
        n *= 2
    return [*counts, top]


def pick(speeds: dict[int, float]) -> int:
    """The fastest count, where each step up must beat the best so far by MIN_GAIN."""
    best = min(speeds)
    for count in sorted(speeds):
        if speeds[count] >= speeds[best] * MIN_GAIN:
            best = count
    return best


def load_class(busy: float | None) -> str:
    return "busy" if busy is not None and busy >= BUSY_CORES else "quiet"


def _available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def thread_pool() -> str:
    """Whose threads the installed llama.cpp decodes on: "openmp" (libgomp, shared with
    torch) or "ggml" (its own pool, `make setup`'s build since GGML_OPENMP=OFF); the same
    version built either way chose differently on one machine (Makefile)."""
    try:
        import llama_cpp
    except ImportError:
        return "-"
    return "openmp" if "OPENMP = 1" in llama_cpp.llama_print_system_info().decode() else "ggml"


def _key(path: Path) -> str:
    stat = path.stat()
    parts = [
        cpu_info().signature,
        str(_available()),
        package_version("llama_cpp_python", "-") + "/" + thread_pool(),
        os.environ.get("OMP_WAIT_POLICY", ""),
        f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}",
    ]
    return "|".join(parts)


def _override() -> int | None:
    value = os.environ.get("PLMKIT_LLAMA_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def stream_threads(
    path: Path,
    speed: Callable[[int], float],
    busy: Callable[[], float | None] | None = None,
) -> int:
    """Threads to decode one sequence of the GGUF at `path` with.

    `speed(n)`: tokens/s decoding with n threads, one short round (called PROBE_ROUNDS
    times a count, and only when nothing is cached);
    `busy()`: cores other processes keep busy (default: a LOAD_PROBE_SECONDS probe).
    """
    if (forced := _override()) is not None:
        return forced
    key = _key(path)
    entries = read_json(_cache_path()).get(key, {})
    quiet = entries.get("quiet")
    if quiet is not None and quiet["threads"] == 1:
        return 1
    load = load_class((busy or (lambda: busy_cores(LOAD_PROBE_SECONDS)))())
    if (hit := entries.get(load)) is not None:
        return int(hit["threads"])
    speeds = measure(candidate_counts(_available()), speed)
    threads = pick(speeds)
    remember(_cache_path(), key, {**entries, load: {"threads": threads, "tokens_per_s": speeds}})
    log.info(
        "llama.cpp decode threads -> %d (%s machine; tok/s by threads %s)", threads, load, speeds
    )
    return threads


def measure(counts: list[int], speed: Callable[[int], float]) -> dict[int, float]:
    """tok/s of each count: the median of PROBE_ROUNDS rounds in alternating order."""
    samples: dict[int, list[float]] = {n: [] for n in counts}
    for round_ in range(PROBE_ROUNDS):
        for n in counts if round_ % 2 == 0 else reversed(counts):
            samples[n].append(float(speed(n)))
    return {n: round(statistics.median(rates), 1) for n, rates in samples.items()}


def cached_choices() -> dict[str, dict]:
    """Every cached decision (for `plm doctor` and the bench's notes); never measures."""
    return read_json(_cache_path())


BLOCK = 16
"""Tokens a thread count streams before its speed (their median) is taken."""
EXPLORE_EVERY = 8
"""Blocks on the best count before the others are checked again (128 tokens); each check
that keeps the best doubles the wait, up to MAX_EXPLORE_EVERY (a check of a count 25%
slower costs 4% of a block in eight, 0.5% of one in 64); a change starts it over."""
MAX_EXPLORE_EVERY = 64
TOO_SLOW = 3.0
"""A check of another count stops at its first token this many times slower than the best
count's median: with another process holding a core, 2 spinning threads fell to 2 tok/s."""


def tuner(start: int) -> ThreadTuner:
    """A ThreadTuner from `start` over candidate_counts (none but the forced count where
    PLMKIT_LLAMA_THREADS is set)."""
    return ThreadTuner([start] if _override() else candidate_counts(_available()), start)


class ThreadTuner:
    """Which thread count the next streamed token runs on, from the speed of the tokens
    already streamed: blocks of BLOCK tokens on the best count and, after the first block
    (the start came from a cache) and then ever more rarely (EXPLORE_EVERY), one block on
    each other count. Another count takes over when pick() says so (more threads must be
    MIN_GAIN faster, as in the probe). The count changes no output: ggml splits the rows of
    a product between threads, not the sums inside one.

    `record(seconds)` is given the time of each decode step (a new token, the prompt
    excluded) on the count `threads()` named."""

    def __init__(self, counts: list[int], start: int) -> None:
        self.counts, self.best = sorted(set(counts) | {start}), start
        self.rates: dict[int, float] = {}  # tokens/s: median of the latest block per count
        self._queue: list[int] = []  # counts still to check in this round
        self._block: list[float] = []
        self._interval, self._blocks_on_best = EXPLORE_EVERY, EXPLORE_EVERY - 1  # check soon
        self.current = start

    def threads(self) -> int:
        return self.current

    def record(self, seconds: float) -> None:
        self._block.append(max(seconds, 1e-9))
        exploring = self.current != self.best
        if exploring and self.best in self.rates:
            if seconds > TOO_SLOW / self.rates[self.best]:  # stop a check that hurts at once
                self._finish()
                return
        if len(self._block) >= BLOCK:
            self._finish()

    def _finish(self) -> None:
        self.rates[self.current] = 1.0 / statistics.median(self._block)
        self._block = []
        if self.current == self.best:
            self._blocks_on_best += 1
            if self._blocks_on_best >= self._interval and len(self.counts) > 1:
                self._queue = [c for c in self.counts if c != self.best]
                self._blocks_on_best = 0
                self.current = self._queue.pop(0)
            return
        if self._queue:  # the next count of this check
            self.current = self._queue.pop(0)
            return
        best = pick(self.rates)
        if best == self.best:
            self._interval = min(self._interval * 2, MAX_EXPLORE_EVERY)
        else:
            rates = {count: round(rate, 1) for count, rate in sorted(self.rates.items())}
            log.info("llama.cpp decode threads %d -> %d (tok/s %s)", self.best, best, rates)
            self.best, self._interval = best, EXPLORE_EVERY
        self.current = self.best
