"""What every route shares: the settings, the served models, the slots, the worker threads,
the batcher, the decode queues and the metrics; and `call_engine`, the one place engine
errors are mapped.

Slots and the batcher belong to the event loop the server runs on, so `start` makes them
in the app's lifespan (a TestClient or uvicorn loop), and `stop` lets the threads go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from plmkit.errors import PlmError
from plmkit.serve.batching import MicroBatcher, RunBatch
from plmkit.serve.decoding import DecodeQueue
from plmkit.serve.errors import ApiError, engine_failure, from_plm
from plmkit.serve.limits import Slots
from plmkit.serve.metrics import ServerMetrics
from plmkit.serve.models import ServedModels
from plmkit.serve.settings import ServeSettings

T = TypeVar("T")


@dataclass
class ServerState:
    settings: ServeSettings
    models: ServedModels
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    executor: ThreadPoolExecutor | None = None
    slots: Slots | None = None
    batcher: MicroBatcher | None = None
    decoders: dict[str, DecodeQueue] = field(default_factory=dict)

    def start(self, run_batch: RunBatch) -> None:
        settings = self.settings
        # one thread per slot, and a few for the work a timed-out request leaves running
        self.executor = ThreadPoolExecutor(
            settings.max_concurrency + 4, thread_name_prefix="plmkit-engine"
        )
        self.slots = Slots(settings.max_concurrency, settings.max_queue)
        self.metrics.watch_slots(lambda: self.slots.running, lambda: self.slots.waiting)
        self.batcher = MicroBatcher(
            run_batch,
            self.executor,
            self.metrics,
            settings.batch_window_ms / 1000,
            settings.batch_max_texts,
            settings.batch_max_tokens,
        )

    def decoder(self, model: str) -> DecodeQueue:
        """The decode queue of a served generator (made on its first request)."""
        if model not in self.decoders:
            settings = self.settings
            self.decoders[model] = DecodeQueue(
                model,
                settings.backend,
                self.metrics,
                settings.generation_window_ms / 1000,
                settings.max_concurrency,
            )
        return self.decoders[model]

    def stop(self) -> None:
        for decoder in self.decoders.values():
            decoder.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)


async def call_engine(work: Awaitable[T]) -> T:
    """`work`'s result; plmkit's errors as 4xx, an engine failure as 503 (never a 500)."""
    try:
        return await work
    except (ApiError, asyncio.CancelledError):
        raise
    except PlmError as error:
        raise from_plm(error) from None
    except Exception as error:  # noqa: BLE001 - whatever the engine raised: 503, keep serving
        raise engine_failure(error) from None
