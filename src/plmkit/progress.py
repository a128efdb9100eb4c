"""One switch for progress bars (sentence-transformers' `show_progress_bar`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, enabled: bool = True) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr when `enabled` and stderr is a terminal,
    silently otherwise."""
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    # rich's default console is stdout, where a transient bar leaves a blank line; off a
    # terminal (a pipe, a log file) the bar would show nothing but that blank line
    console = Console(stderr=True)
    if not console.is_terminal:
        yield from items
        return
    yield from track(items, description=description, transient=True, console=console)
