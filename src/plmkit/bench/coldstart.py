"""`plm bench coldstart`: process start to first result for `plm encode` and `plm generate`,
each run twice in a fresh process (the second run finds the caches the first one wrote)."""

from __future__ import annotations

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
    """Process start to first result for `plm encode` and `plm generate`, twice each."""
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
        for attempt in ("first run", "second run"):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            seconds = time.perf_counter() - start
            rows.append(
                Row(
                    "coldstart",
                    f"plm {verb} ({attempt})",
                    1 / seconds,
                    "runs/s",
                    ttft_ms=seconds * 1000,
                    quality="ok" if done.returncode == 0 else f"exit {done.returncode}",
                    note=_last_line(done.stderr)[:80] if done.returncode else warning,
                )
            )
    return rows
