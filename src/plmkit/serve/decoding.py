"""Generation requests decoded in batches: one decode worker per served generator.

A completion or chat request hands its generation to its model's `DecodeQueue` and waits.
The worker takes the waiting requests that share a `batch_key` with the oldest one (greedy
with greedy, the same sampling values together; at most `max_rows`) and decodes them as one
`pipelines.generate_batch`: one forward per step for all of them. A request that arrives
while a batch runs waits for the next one, so under load every step serves many streams;
when the worker was idle it first waits `window_s` for others to join. A batch of one, or a
request that cannot share (beam search, seeded sampling), runs through `generate` as it
would alone, so a lone request is exactly what `plm generate` gives.

Only the worker decodes on a model, so the llama.cpp context is never used by two threads.
A request cancelled while it waits (its client gone, its deadline passed) leaves the queue
at once; one cancelled while it decodes stops at its next word (its text callback raises
`ClientGone`), and the rest of its batch goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from plmkit.config import GenerateConfig
from plmkit.pipelines.generate import GenerateResult, generate
from plmkit.pipelines.generate_batch import BatchRequest, batch_key, generate_batch
from plmkit.serve.metrics import ServerMetrics

POLL_S = 0.05


class ClientGone(Exception):
    """The client left (or the deadline passed): stop generating."""


@dataclass
class _Job:
    prompt: str | list[dict]
    config: GenerateConfig
    on_text: Callable[[str], None]
    cancel: threading.Event
    future: Future = field(default_factory=Future)
    claimed: bool = False


class DecodeQueue:
    def __init__(
        self,
        model: str,
        backend: str,
        metrics: ServerMetrics,
        window_s: float = 0.02,
        max_rows: int = 8,
    ) -> None:
        self.model, self.backend, self.metrics = model, backend, metrics
        self.window_s, self.max_rows = window_s, max_rows
        self.pending: list[_Job] = []
        self.changed = threading.Condition()
        self.stopped = False
        # started idle, before any request, so that the first one waits for company too
        self.worker = threading.Thread(
            target=self._loop, name=f"plmkit-decode-{model}", daemon=True
        )
        self.worker.start()

    def generate(
        self,
        prompt: str | list[dict],
        config: GenerateConfig,
        on_text: Callable[[str], None],
        cancel: threading.Event,
    ) -> GenerateResult:
        """This request's result, decoded with whatever shares its batch (blocks the caller's
        thread); ClientGone when `cancel` is set first."""
        job = _Job(prompt, config, on_text, cancel)
        with self.changed:
            self.pending.append(job)
            self.changed.notify()
        while True:
            try:
                return job.future.result(timeout=POLL_S)
            except FutureTimeout:
                if cancel.is_set():
                    with self.changed:
                        if not job.claimed:
                            self.pending.remove(job)
                            raise ClientGone from None
                # claimed: its text callback raises ClientGone at the next word

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.changed.notify_all()

    def _loop(self) -> None:
        while True:
            with self.changed:
                idle = not self.pending
                while not self.pending and not self.stopped:
                    self.changed.wait()
                if self.stopped:
                    return
            if idle and self.window_s > 0:
                time.sleep(self.window_s)  # let requests arriving together join
            self._run(self._take())

    def _take(self) -> list[_Job]:
        """The oldest waiting job and those that may share its batch, claimed."""
        with self.changed:
            key = batch_key(self.pending[0].config)
            if key is None:
                jobs = self.pending[:1]
            else:
                jobs = [j for j in self.pending if batch_key(j.config) == key][: self.max_rows]
            for job in jobs:
                job.claimed = True
                self.pending.remove(job)
            return jobs

    def _run(self, jobs: list[_Job]) -> None:
        self.metrics.batch_requests.labels(self.model).observe(len(jobs))
        self.metrics.batch_size.labels(self.model).observe(len(jobs))
        if len(jobs) == 1:
            (job,) = jobs
            try:
                on_text = _cancellable(job)
                result = generate(job.prompt, self.model, job.config, on_text, self.backend)
            except BaseException as error:  # noqa: BLE001 - handed to the request
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
            return
        requests = [BatchRequest(j.prompt, j.config, _cancellable(j)) for j in jobs]
        try:
            outcomes = generate_batch(requests, self.model, self.backend)
        except BaseException as error:  # noqa: BLE001 - the engine failed: every request hears
            for job in jobs:
                job.future.set_exception(error)
            return
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)


def _cancellable(job: _Job) -> Callable[[str], None]:
    def on_text(piece: str) -> None:
        if job.cancel.is_set():
            raise ClientGone
        job.on_text(piece)

    return on_text
