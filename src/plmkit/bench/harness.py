"""How the inference scenarios race their engines: each engine is loaded and warmed up once
(peak memory recorded), then timed in rounds interleaved with the others, best round kept;
single requests are timed afterwards for latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plmkit import backends
from plmkit.bench.measure import PeakMemory, percentiles, timed


@dataclass
class Engine:
    """One contestant: `run` does the whole workload, `single` serves one request."""

    name: str
    run: Callable[[], Any]
    single: Callable[[Any], Any] | None = None
    baseline: bool = False
    memory_mb: float = 0.0
    best_seconds: float = float("inf")
    output: Any = None
    handle: Any = None
    """The model or backend behind `run` (for quality checks after the race)."""


def enter(engines: list[Engine], load: Callable[[], Engine]) -> Engine:
    """Load an engine and run its workload once (warm-up), recording peak memory."""
    with PeakMemory() as memory:
        engine = load()
        engine.output = engine.run()
    engine.memory_mb = memory.mb
    engines.append(engine)
    return engine


def race(engines: list[Engine], rounds: int) -> None:
    """Timed rounds, engines interleaved (start rotating), best round kept for each.

    On a shared machine a burst of someone else's work then hits every engine alike.
    """
    for round_ in range(rounds):
        shift = round_ % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            engine.output, seconds = timed(engine.run)
            engine.best_seconds = min(engine.best_seconds, seconds)


def request_latency(engine: Engine, probe: list) -> dict:
    """p50 / p95 of `engine.single` over the probe's requests, one at a time (ms)."""
    if engine.single is None:
        return {}
    seconds = [timed(engine.single, item)[1] for item in probe]
    p50, p95 = percentiles(seconds)
    return {"p50_ms": p50, "p95_ms": p95}


def auto_choice(kind: str, model: str, task: str = "embed", batch: bool = False) -> str:
    """What auto picks here; the models it loaded are dropped so memory rows start clean."""
    try:
        return backends.choose(model, kind, task, "auto", batch=batch)
    except Exception as error:  # noqa: BLE001 - the table still prints without it
        return f"error: {error}"
    finally:
        backends.unload_all()
