"""`plm bench train`: fine-tuning throughput of the default recipe vs the reference recipe.

Each arm is the real recipe (`finetune_classifier.prepare`: its data, collator, sampler,
optimizer and dtype, through HF Trainer) on the same data and model; only training steps after
`warmup` untimed ones count (forward, backward, optimizer; no evaluation or saving). Arms:
- reference: the tutorial's setup: pad every text to 512, batch 8, fp32, plain AdamW;
- default: dynamic padding, length-grouped batches of 32, fused AdamW, and bf16 autocast where
  this CPU has native bf16 (measured, never assumed);
- default fp32, and default with frozen word embeddings: what each choice adds (default fp32
  is not run where the default already trains in fp32: `full_arms`).
The arms' Trainers run in threads that take turns one step at a time (one reference step, then
a few steps of each other arm, and again), so a change of load on a shared machine hits every
arm alike. Throughput is samples over the median step time, which ignores the odd step slowed
by another process; the mean is reported too, with the load average during the run.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from plmkit.bench.measure import Row
from plmkit.bench.options import BenchOptions
from plmkit.config import FinetuneConfig

ARMS: dict[str, dict[str, Any]] = {
    "reference": dict(recipe="reference"),
    "default": dict(recipe="default"),
    "default fp32": dict(recipe="default", bf16=False),
    "default + frozen word embeddings": dict(recipe="default", freeze_embeddings=True),
}
TURN_TIMEOUT_S = 900


class Baton:
    """Turns between the arms' training threads: `pattern` (arm names) repeats, skipping arms
    that are done; only the arm whose turn it is runs a step."""

    def __init__(self, pattern: list[str]) -> None:
        self.pattern, self.position = pattern, 0
        self.active = set(pattern)
        self.condition = threading.Condition()

    def _current(self) -> str | None:
        for _ in range(len(self.pattern)):
            name = self.pattern[self.position % len(self.pattern)]
            if name in self.active:
                return name
            self.position += 1
        return None

    def wait_turn(self, name: str) -> None:
        with self.condition:
            if not self.condition.wait_for(lambda: self._current() == name, TURN_TIMEOUT_S):
                raise TimeoutError(f"train bench: {name} waited {TURN_TIMEOUT_S} s for its turn")

    def pass_on(self) -> None:
        with self.condition:
            self.position += 1
            self.condition.notify_all()

    def retire(self, name: str) -> None:
        with self.condition:
            self.active.discard(name)
            self.condition.notify_all()


class StepTimer(TrainerCallback):
    """Seconds, samples and real tokens of each training step of one arm; waits for its turn
    before each step, stops after `steps` steps, and keeps the Trainer from evaluating or
    saving (not part of the measurement)."""

    def __init__(self, name: str, progress: Any, steps: int, baton: Baton) -> None:
        self.name, self.progress, self.steps, self.baton = name, progress, steps, baton
        self.seconds: list[float] = []
        self.samples: list[int] = []
        self.tokens: list[int] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.baton.wait_turn(self.name)
        self._counts = (self.progress.samples, self.progress.tokens)
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)
        self.samples.append(self.progress.samples - self._counts[0])
        self.tokens.append(self.progress.tokens - self._counts[1])
        control.should_save = control.should_evaluate = False
        control.should_training_stop = state.global_step >= self.steps
        self.baton.pass_on()

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_save = control.should_evaluate = False


def measure_training(
    model: str = "minilm",
    data: str = "movie-snippets",
    *,
    arms: tuple[str, ...] = tuple(ARMS),
    steps: dict[str, int] | None = None,
    warmup: int = 2,
    seed: int = 42,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Samples/s of each arm (see the module docstring) and each arm's ratio to reference.

    `steps`: timed steps per arm (default: reference 3, the others 32). The reference pads
    every batch to 512 tokens, so its steps vary little (7-10 s each on a Zen 3, where its
    5 timed steps before were 45 s of `plm bench all`); its median is over 3.
    """
    from plmkit.recipes.finetune_classifier import prepare

    say = on_progress or (lambda _: None)
    steps = {name: 3 if name == "reference" else 32 for name in arms} | (steps or {})
    slow = [name for name in arms if name == "reference"]
    fast = [name for name in arms if name != "reference"]
    per_turn = max(
        1, math.ceil(max((steps[n] for n in fast), default=1) / steps.get("reference", 1))
    )
    baton = Baton(slow + [name for name in fast for _ in range(per_turn)])
    base = FinetuneConfig(model=model, data=data, seed=seed)
    with tempfile.TemporaryDirectory(prefix="plmkit-bench-train-") as tmp:
        timers, threads, errors = {}, [], []
        for name in arms:
            say(f"train bench: setting up {name}")
            overrides = {**ARMS[name], "out": os.path.join(tmp, str(len(timers)))}
            config = FinetuneConfig(
                **{**vars(base), **overrides, "max_steps": warmup + steps[name]}
            )
            run = prepare(config)
            timer = StepTimer(name, run.progress, warmup + steps[name], baton)
            timer.dtype, timer.max_length = run.dtype_reason, run.max_length
            run.trainer.add_callback(timer)
            timers[name] = timer

            def train(trainer: Any = run.trainer, name: str = name) -> None:
                try:
                    trainer.train()
                except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
                    errors.append(error)
                finally:
                    baton.retire(name)

            threads.append(threading.Thread(target=train, name=f"bench-{name}", daemon=True))
        say("train bench: running the arms in turns")
        load_before = os.getloadavg()[0]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    results: dict[str, Any] = {}
    for name, timer in timers.items():
        seconds, samples = timer.seconds[warmup:], timer.samples[warmup:]
        median_step = statistics.median(seconds)
        results[name] = {
            "samples_per_second": round(statistics.median(samples) / median_step, 3),
            "mean_samples_per_second": round(sum(samples) / sum(seconds), 3),
            "real_tokens_per_second": round(sum(timer.tokens[warmup:]) / sum(seconds), 1),
            "median_step_seconds": round(median_step, 4),
            "timed_steps": len(seconds),
            "batch_size": statistics.median(samples),
            "dtype": timer.dtype,
            "max_length": timer.max_length,
        }
    if "reference" in results:
        reference = results["reference"]
        for entry in results.values():
            entry["ratio"] = round(entry["samples_per_second"] / reference["samples_per_second"], 2)
            entry["mean_ratio"] = round(
                entry["mean_samples_per_second"] / reference["mean_samples_per_second"], 2
            )
    return {
        "model": model,
        "data": data,
        "warmup": warmup,
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "arms": results,
    }


def full_arms() -> tuple[str, ...]:
    """Every arm, less "default fp32" where the default already trains in fp32 (no bf16
    autocast on this CPU): the same run twice, 26 s of a Zen 3's `plm bench all`."""
    from plmkit.training import decide_bf16

    if decide_bf16(None)[0]:
        return tuple(ARMS)
    return tuple(name for name in ARMS if name != "default fp32")


def scenario(options: BenchOptions) -> list[Row]:
    """The `train` rows of `plm bench`: each arm's samples/s, default vs reference."""
    model = options.encoder
    if options.quick:
        quick_arms = ("reference", "default")
        measured = measure_training(
            model, steps=dict.fromkeys(quick_arms, 1), warmup=1, arms=quick_arms
        )
    else:
        measured = measure_training(model, arms=full_arms())
    fp32_too = not options.quick and "default fp32" not in measured["arms"]
    rows = []
    for name, entry in measured["arms"].items():
        rows.append(
            Row(
                scenario="train",
                name=f"{name} (fine-tune {model}, batch {entry['batch_size']:.0f}, "
                f"max_length {entry['max_length']})",
                throughput=entry["samples_per_second"],
                unit="samples/s",
                baseline=name == "reference",
                ratio=None if name == "reference" else entry.get("ratio"),
                note=f"{entry['dtype']}; mean-based ratio {entry.get('mean_ratio')}"
                + ("; also the default fp32 arm here" if name == "default" and fp32_too else ""),
            )
        )
    return rows
