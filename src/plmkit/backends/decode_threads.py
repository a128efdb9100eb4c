"""Threads for one llama.cpp sequence: measured per CPU, GGUF file and load, then cached.

A fixed rule from one machine was wrong on the next: smollm2 Q4_1 decoded at 148 tok/s on
1 thread and 170 on 2 on a quiet 2-core Zen 5, but 44 and 67 on a 2-core Zen 3 (one thread
cost a third there); and with another process holding a core, 2 threads with OpenMP's
spinning waits fell to about 2 tok/s. So each candidate count decodes a few tokens and the
fastest wins, fewer threads unless more are at least MIN_GAIN faster. The answer is cached
in `cache_dir()/decode_threads.json` beside the other `auto` measurements, keyed by the
CPU signature and affinity, llama-cpp-python's version, OMP_WAIT_POLICY, the file (path,
size, mtime) and the load class ("quiet", or "busy" when other processes keep
BUSY_CORES or more busy). A quiet answer of 1 thread also serves a busy machine (sharing
never makes more threads pay), so then the load is not even probed: a cached start costs
one JSON read. PLMKIT_LLAMA_THREADS overrides all of it.
"""

from __future__ import annotations

import logging
import os
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


def _key(path: Path) -> str:
    stat = path.stat()
    parts = [
        cpu_info().signature,
        str(_available()),
        package_version("llama_cpp_python", "-"),
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

    `speed(n)`: tokens/s decoding with n threads (called only when nothing is cached);
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
    speeds = {n: round(float(speed(n)), 1) for n in candidate_counts(_available())}
    threads = pick(speeds)
    remember(_cache_path(), key, {**entries, load: {"threads": threads, "tokens_per_s": speeds}})
    log.info(
        "llama.cpp decode threads -> %d (%s machine; tok/s by threads %s)", threads, load, speeds
    )
    return threads


def cached_choices() -> dict[str, dict]:
    """Every cached decision (for `plm doctor` and the bench's notes); never measures."""
    return read_json(_cache_path())
