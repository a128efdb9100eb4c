"""`plm bench coldstart`: process start to first result for `plm encode` and `plm generate`,
each in fresh processes: once, then CACHED_RUNS more that find the caches the first wrote."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from plmkit.bench.measure import Row
from plmkit.bench.options import BenchOptions


def plm_command() -> list[str]:
    """How to start `plm`: the script beside this interpreter, else `python -m plmkit.cli`."""
    script = Path(sys.executable).with_name("plm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "plmkit.cli"]


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def bytecode_missing() -> bool:
    """True when plmkit's modules have no .pyc files: each start then compiles them
    (0.1-0.2 s); an editable install under PYTHONDONTWRITEBYTECODE=1 never writes them."""
    import importlib.util

    return not Path(importlib.util.cache_from_source(__file__)).exists()  # this module's


def scenario(options: BenchOptions) -> list[Row]:
    """Process start to first result for `plm encode` and `plm generate`: the first run and
    the median of the cached runs."""
    commands = {
        "encode": [*plm_command(), "encode", "a quick test", "--model", options.encoder],
        "generate": [
            *plm_command(),
            "generate",
            "Hello",
            "--model",
            options.decoder,
            "--max-new-tokens",
            "1",
            "--no-stream",
        ],
    }
    rows = []
    warning = "no .pyc for plmkit: each start compiles it (`make bytecode`)"
    warning = warning if bytecode_missing() else ""
    for verb, command in commands.items():
        rows.append(_row(f"plm {verb} (first run)", [_timed(command)], warning))
        cached = [_timed(command) for _ in range(CACHED_RUNS)]
        rows.append(_row(f"plm {verb} {CACHED}", cached, warning))
    return rows


CACHED_RUNS = 3
CACHED = f"(cached, median of {CACHED_RUNS})"
"""The runs after the first find its caches; one start on the 2-core Zen 3 varied by a third
from run to run (0.83-1.10 s for the same `plm generate`), so the median of three is shown."""


def _timed(command: list[str]) -> tuple[float, int, str]:
    """(seconds from process start to exit, exit code, the last line of its stderr)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - start, done.returncode, _last_line(done.stderr)[:80]


def _row(name: str, runs: list[tuple[float, int, str]], warning: str) -> Row:
    seconds = [s for s, _, _ in runs]
    median = statistics.median(seconds)
    failed = next(((code, line) for _, code, line in runs if code), None)
    spread = f"runs {', '.join(f'{s:.2f}' for s in seconds)} s" if len(runs) > 1 else ""
    return Row(
        "coldstart",
        name,
        1 / median,
        "runs/s",
        ttft_ms=median * 1000,
        quality=f"exit {failed[0]}" if failed else "ok",
        note=failed[1] if failed else "; ".join(n for n in (spread, warning) if n),
    )
