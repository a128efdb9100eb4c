"""Progress of long loops on stderr: a bar with rate and time left on a terminal, and off a
terminal (a log file, CI) one line every `progress_interval()` seconds instead of silence.

`PLMKIT_PROGRESS_SECONDS` sets that interval (default 10; 0 = a line per item). Work that
ends within one interval prints nothing off a terminal: short commands keep clean logs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")
DEFAULT_INTERVAL = 10.0


def progress_interval() -> float:
    """Seconds between progress lines off a terminal (`PLMKIT_PROGRESS_SECONDS`, default 10)."""
    try:
        return max(0.0, float(os.environ.get("PLMKIT_PROGRESS_SECONDS", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def duration(seconds: float | None) -> str:
    """12s, 3m05s, 1h02m; '?' when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LineTicker:
    """Says whether a progress line is due: at most one per `interval` seconds."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = progress_interval() if interval is None else interval
        self.started = time.monotonic()
        self._last = self.started

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def rate_line(description: str, done: int, total: int | None, elapsed: float, unit: str) -> str:
    """'classifying: 40/157 batches (25%), 3.1 batches/s, 38s left'."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total:
        left = (total - done) / rate if rate > 0 else None
        return (
            f"{description}: {done}/{total} {unit} ({done / total:.0%}), {rate:.3g} {unit}/s, "
            f"{duration(left)} left"
        )
    return f"{description}: {done} {unit}, {rate:.3g} {unit}/s, {duration(elapsed)} so far"


def progress(
    items: Iterable[T],
    description: str,
    enabled: bool = True,
    unit: str = "batches",
    stream: TextIO | None = None,
) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr when `enabled` and stderr is a terminal;
    off a terminal, a `rate_line` every `progress_interval()` seconds."""
    if not enabled:
        yield from items
        return
    from rich.console import Console

    # rich's default console is stdout, where a transient bar leaves a blank line
    console = Console(stderr=True)
    if console.is_terminal and stream is None:
        from rich.progress import track

        yield from track(items, description=description, transient=True, console=console)
        return
    out = stream or sys.stderr
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    ticker = LineTicker()
    for done, item in enumerate(items, 1):
        yield item
        if ticker.due():
            print(rate_line(description, done, total, ticker.elapsed, unit), file=out, flush=True)
