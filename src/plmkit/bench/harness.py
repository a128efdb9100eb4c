"""How the inference scenarios race their engines: each engine is loaded and warmed up once
on a short slice of its workload, then timed in rounds interleaved with the others, best
round kept (peak memory: the load and warm-up, and the first whole round); single requests
are timed afterwards for latency.

Before its warm-up an engine may run a short probe (a slice of the workload) against torch
fp32's on the same slice (`SlowProbe`): one far slower is reported with the probe's figure
instead of being timed. On an AVX2 CPU emulated bf16 encoded at 0.19x fp32 and, timed for
three rounds like the others, took most of a 35-minute `plm bench all`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plmkit import backends
from plmkit.bench.measure import PeakMemory, Row, percentiles, timed
from plmkit.bench.options import BenchOptions

SLOW_PROBE_RATIO = 0.5
"""An engine whose probe runs below this share of the reference's is skipped."""
PROBE_TEXTS = 32
"""Texts in an encoder probe (one batch); a decoder probe decodes PROBE_TOKENS."""
PROBE_TOKENS = 8
MIN_ROUNDS = 2
"""Timed rounds every engine gets: with a short warm-up the first may still pay first-call
costs (the classify pipeline, 20.3 s a round on a slow Zen 3 hour, had one round only and
measured 49 texts/s, against 65 in the run before)."""
WARM_TEXTS = 64
"""Texts in an encoder's warm-up (a decoder's decodes PROBE_TOKENS). The warm-up was a whole
run of the workload, untimed: 80 s of decoding and 50 s of encoding in a `plm bench all` on
a Zen 3, for first-call costs that a slice pays as well."""
ROUND_BUDGET_S = 20.0
"""After its first timed round an engine runs another only while its rounds so far took less
than this: on an AVX2 CPU one round of torch decoding 8 prompts took about 33 s, and its three
rounds (after a warm-up run of the same length) cost minutes of a `plm bench all` for a figure
one round gives; a 1 s round is still timed three times. 15 s was tried: on a slow Zen 3 hour
the classify baseline (the pipeline, 21 s a round) then got a single round, and every ratio
over it rests on that one."""


@dataclass
class Engine:
    """One contestant: `run` does the whole workload, `single` serves one request."""

    name: str
    run: Callable[[], Any]
    single: Callable[[Any], Any] | None = None
    baseline: bool = False
    memory_mb: float = 0.0
    output: Any = None
    handle: Any = None
    """The model or backend behind `run` (for quality checks after the race)."""
    probe: Callable[[], float] | None = None
    """A short slice of the workload: units/s (see `probe_rate`), for `SlowProbe`."""
    round_seconds: list[float] = field(default_factory=list)
    """Each timed round's seconds, in order (Row.round_seconds)."""
    warm: Callable[[], Any] | None = None
    """A short slice of the workload to warm up on (else `run` itself)."""
    retained_mb: float = 0.0
    """RSS the load and warm-up kept (above the start), for the first round's peak."""

    @property
    def rounds_run(self) -> int:
        return len(self.round_seconds)

    @property
    def timed_seconds(self) -> float:
        return sum(self.round_seconds)

    @property
    def best_seconds(self) -> float:
        """The fastest timed round (inf before any)."""
        return min(self.round_seconds, default=float("inf"))


def probe_rate(work: Callable[[], Any], units: float) -> float:
    """units/s of `work`, run once to warm up and then timed once."""
    work()
    _, seconds = timed(work)
    return units / max(seconds, 1e-9)


@dataclass
class SlowProbe:
    """Skips the engines whose probe runs below SLOW_PROBE_RATIO of the reference's (torch
    fp32, probed first), noting each as a row with the probe's figure; `all_engines` keeps
    every engine and probes none. `auto`'s picks (`picks`) are always timed, whatever their
    probe: they are the rows a user gets (a Zen 4 run skipped llama-cpp-bf16's 8 prompts,
    `auto`'s batch engine, on a prefill-heavy probe at 0.43x one stream; timed in the runs
    before and after, 1.96-2.50x). The single streams keep `auto`'s batch engine too: only
    engines whose stream was timed get a batch row."""

    scenario: str
    unit: str
    all_engines: bool = False
    reference: str = "torch-fp32"
    reference_rate: float | None = None
    compared: str = "on the same slice"
    picks: tuple[str, ...] = ()
    skipped: list[Row] = field(default_factory=list)

    def keep(self, backend: str, engine: Engine) -> bool:
        if self.all_engines or engine.probe is None:
            return True
        rate = engine.probe()
        if backend == self.reference:
            self.reference_rate = rate
            return True
        if backend in self.picks or self.reference_rate is None:
            return True
        if rate >= SLOW_PROBE_RATIO * self.reference_rate:
            return True
        self.skipped.append(
            Row(
                self.scenario,
                engine.name,
                rate,
                self.unit,
                note=(
                    f"skipped, not timed: a short probe ran at {rate:.1f} {self.unit}, "
                    f"{rate / self.reference_rate:.2f}x {self.reference}'s "
                    f"{self.reference_rate:.1f} {self.compared} (--all-engines times it)"
                ),
            )
        )
        return False


def enter(
    engines: list[Engine],
    load: Callable[[], Engine],
    probe: SlowProbe | None = None,
    backend: str = "",
) -> Engine | None:
    """Load an engine and warm it up (`warm`, else its whole workload), recording peak
    memory; None when `probe` finds the engine far slower than its reference (it is not
    timed)."""
    with PeakMemory() as memory:
        engine = load()
        if probe is not None and not probe.keep(backend, engine):
            return None
        engine.output = (engine.warm or engine.run)()
    engine.memory_mb, engine.retained_mb = memory.mb, memory.retained_mb
    engines.append(engine)
    return engine


def race(
    engines: list[Engine],
    rounds: int,
    budget_s: float = ROUND_BUDGET_S,
    between: Callable[[], Any] | None = None,
) -> None:
    """Timed rounds, engines interleaved (start rotating), best round kept for each; after
    MIN_ROUNDS, an engine whose rounds so far took `budget_s` or more sits the rest out
    (`rounds_run` says how many it had). The baseline never does: the best of fewer rounds
    is a slower best, and every ratio is over it (a slow hour on a Zen 3 gave the
    SentenceTransformer 2 rounds against the engines' 3).

    On a shared machine a burst of someone else's work then hits every engine alike.
    `between` runs after each round (`sample_limits`).
    """
    for round_ in range(rounds if engines else 0):
        shift = round_ % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            spent = engine.rounds_run >= MIN_ROUNDS and engine.timed_seconds >= budget_s
            if spent and not engine.baseline:
                continue
            if engine.rounds_run == 0 and engine.warm is not None:  # its first whole run
                with PeakMemory() as memory:
                    engine.output, seconds = timed(engine.run)
                peak = engine.retained_mb + memory.mb
                engine.memory_mb = max(engine.memory_mb, peak)
            else:
                engine.output, seconds = timed(engine.run)
            engine.round_seconds.append(seconds)
        if between is not None:
            between()


def sample_limits(options: BenchOptions) -> Callable[[], None]:
    """A `race` callback: the machine's limits sampled again (quick, about a second), so
    that a row's limit comes from the same spells of the host's speed as the engines' best
    rounds. Sampled only between scenarios, a Zen 4 run put onnx-fp32 classify at 101% of an
    fp32 limit of 150-164 GFLOP/s that the same kernel ran at 178-193 twenty minutes later."""
    from plmkit.bench import machine

    return lambda: options.limit_samples.append(machine.limits(quick=True))


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
