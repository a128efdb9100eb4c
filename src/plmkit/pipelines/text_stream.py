"""Streamed text for `plm generate`, the server and batched generation: new token ids in,
whole pieces of text out through a callback, cut at stop strings, and Ctrl-C raised between
pieces, never inside one (`between_pieces`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class TextStreamer:
    """A transformers streamer that decodes new tokens and hands finished text to `on_text`.

    Text is emitted only up to the last space or newline, so multi-token words and
    multi-byte characters arrive whole; what is held back is flushed at the end.
    """

    def __init__(self, tokenizer, on_text: Callable[[str], None], stops: list[str]) -> None:
        self.tokenizer, self.on_text, self.stops = tokenizer, on_text, stops
        self.hold = max((len(s) for s in stops), default=1) - 1  # a stop may be half-made
        self.prompt_pending = True  # HF generate's first put() carries the prompt
        self.ids: list[int] = []
        self.emitted = 0
        self.stopped = False
        self.first_token_at: float | None = None
        self.in_callback = self.interrupt_pending = False  # see between_pieces

    def _deliver(self, piece: str, upto: int) -> None:
        self.in_callback = True  # from here a Ctrl-C waits until the piece is shown
        try:
            self.emitted = upto
            self.on_text(piece)
        finally:
            self.in_callback = False
        if self.interrupt_pending:  # Ctrl-C arrived while the piece was being shown
            raise KeyboardInterrupt

    def put(self, value: torch.Tensor) -> None:
        """transformers' streamer call: the prompt first, then each new token."""
        if self.prompt_pending:
            self.prompt_pending = False
            return
        self.add(value.flatten().tolist())

    def add(self, ids: list[int]) -> None:
        """New token ids (engines without HF generate call this directly)."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if self.stopped:
            return
        self.ids.extend(ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, self.stopped = cut_at_stop(text, self.stops)
        cut = len(text) if self.stopped else max(text.rfind(" "), text.rfind("\n"))
        cut = cut if self.stopped else min(cut, len(text) - self.hold)
        if cut > self.emitted and not text[:cut].endswith("\ufffd"):
            self._deliver(text[self.emitted : cut], cut)  # shown whole before any Ctrl-C

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, _ = cut_at_stop(text, self.stops)
        piece, self.emitted = text[self.emitted :], len(text)
        if piece:
            self.on_text(piece)


@contextmanager
def between_pieces(streamer: TextStreamer) -> Iterator[None]:
    """In the main thread, a Ctrl-C that lands while a piece of text is being shown is raised
    once it has been (a piece counted as shown always is); anywhere else it raises at once."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if not streamer.in_callback:
            raise KeyboardInterrupt
        streamer.interrupt_pending = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    hits = [text.find(s) for s in stops if s in text]
    return (text[: min(hits)], True) if hits else (text, False)
