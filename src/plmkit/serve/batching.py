"""Dynamic batching: embeddings / classify requests that arrive within a few milliseconds
of each other run as one pipeline call.

Requests with the same key (model and options) join one pending batch; it runs when the
window (`batch_window_ms`) after its first request ends, or at once when the next request
would push it past `max_texts` or `max_tokens`. The pipeline sorts the texts of the call by
length and pads per batch (`batching.map_padded`), so one long text does not pad everyone;
each request gets back its own slice, in its own order. A batched result equals the result
of the request sent alone, within float noise from padding (the tests check it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from plmkit.serve.metrics import ServerMetrics

RunBatch = Callable[[Hashable, list[str]], Sequence[Any]]
"""(key, texts) -> one result per text, in order; runs in a worker thread."""


@dataclass
class _Pending:
    texts: list[str] = field(default_factory=list)
    tokens: int = 0
    members: list[tuple[int, int, asyncio.Future]] = field(default_factory=list)
    """(start, stop, future) per request: its slice of `texts`."""
    timer: asyncio.TimerHandle | None = None


class MicroBatcher:
    def __init__(
        self,
        run: RunBatch,
        executor: Executor,
        metrics: ServerMetrics,
        window_s: float,
        max_texts: int,
        max_tokens: int,
    ) -> None:
        self.run, self.executor, self.metrics = run, executor, metrics
        self.window_s, self.max_texts, self.max_tokens = window_s, max_texts, max_tokens
        self.pending: dict[Hashable, _Pending] = {}

    async def submit(self, key: Hashable, texts: list[str], tokens: int) -> list[Any]:
        """This request's results, computed in a batch with whatever joins it."""
        batch = self.pending.get(key)
        if batch is not None and (
            len(batch.texts) + len(texts) > self.max_texts
            or batch.tokens + tokens > self.max_tokens
        ):
            self.flush(key)
            batch = None
        if batch is None:
            batch = self.pending[key] = _Pending()
            loop = asyncio.get_running_loop()
            batch.timer = loop.call_later(self.window_s, self.flush, key)
        future = asyncio.get_running_loop().create_future()
        start = len(batch.texts)
        batch.texts.extend(texts)
        batch.tokens += tokens
        batch.members.append((start, len(batch.texts), future))
        if len(batch.texts) >= self.max_texts or batch.tokens >= self.max_tokens:
            self.flush(key)
        return await future

    def flush(self, key: Hashable) -> None:
        """Run the pending batch of `key` now, in a worker thread."""
        batch = self.pending.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        model = str(key[0]) if isinstance(key, tuple) else str(key)
        self.metrics.batch_size.labels(model).observe(len(batch.texts))
        self.metrics.batch_requests.labels(model).observe(len(batch.members))
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.executor, self.run, key, batch.texts)
        work.add_done_callback(lambda done: self._deliver(done, batch))

    @staticmethod
    def _deliver(done: asyncio.Future, batch: _Pending) -> None:
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        for start, stop, future in batch.members:
            if future.done():  # its request was cancelled (timeout, client gone)
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(list(done.result()[start:stop]))
