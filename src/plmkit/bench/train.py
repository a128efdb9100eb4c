"""`plm bench train`: fine-tuning throughput of the default recipe vs the reference recipe.

Each arm is the real recipe (`finetune_classifier.prepare`: its data, collator, sampler,
optimizer and dtype, through HF Trainer) on the same data and model, for a fixed number of
steps; only the training steps after `warmup` untimed ones count (forward, backward,
optimizer; no evaluation or saving). Arms:
- reference: the tutorial's setup: pad every text to 512, batch 8, fp32, plain AdamW;
- default: dynamic padding, length-grouped batches of 32, fused AdamW, and bf16 autocast where
  this CPU has native bf16 (measured, never assumed);
- default fp32, and default with frozen word embeddings: what each choice adds.
The arms run in alternating rounds (reference, default, ..., reference, default, ...), so a
change of load on a shared machine hits them alike; throughput is samples over the median
step time, which ignores the odd step slowed by another process (the mean is reported too).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from plmkit.bench.measure import Row
from plmkit.bench.scenarios import BenchOptions
from plmkit.config import FinetuneConfig

ARMS: dict[str, dict[str, Any]] = {
    "reference": dict(recipe="reference"),
    "default": dict(recipe="default"),
    "default fp32": dict(recipe="default", bf16=False),
    "default + frozen word embeddings": dict(recipe="default", freeze_embeddings=True),
}


class StepTimer(TrainerCallback):
    """Seconds and samples of each training step; stops training after `steps` steps and
    keeps the Trainer from evaluating or saving (not part of the measurement)."""

    def __init__(self, progress: Any, steps: int) -> None:
        self.progress, self.steps = progress, steps
        self.seconds: list[float] = []
        self.samples: list[int] = []
        self.tokens: list[int] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        self._counts = (self.progress.samples, self.progress.tokens)

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)
        self.samples.append(self.progress.samples - self._counts[0])
        self.tokens.append(self.progress.tokens - self._counts[1])
        control.should_save = control.should_evaluate = False
        control.should_training_stop = state.global_step >= self.steps

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_save = control.should_evaluate = False


def _run_arm(base: FinetuneConfig, overrides: dict, steps: int) -> StepTimer:
    from plmkit.recipes.finetune_classifier import prepare

    with tempfile.TemporaryDirectory(prefix="plmkit-bench-train-") as out:
        config = FinetuneConfig(**{**vars(base), **overrides, "out": out, "max_steps": steps})
        run = prepare(config)
        timer = StepTimer(run.progress, steps)
        run.trainer.add_callback(timer)
        run.trainer.train()
        timer.dtype = run.dtype_reason  # type: ignore[attr-defined]
        timer.max_length = run.max_length  # type: ignore[attr-defined]
        return timer


def measure_training(
    model: str = "minilm",
    data: str = "movie-snippets",
    *,
    arms: tuple[str, ...] = tuple(ARMS),
    steps: dict[str, int] | None = None,
    warmup: int = 2,
    rounds: int = 2,
    seed: int = 42,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Samples/s of each arm (see the module docstring) and each arm's ratio to reference.

    `steps`: timed steps per arm and round (default: reference 6, others 30).
    """
    say = on_progress or (lambda _: None)
    steps = {name: 6 if name == "reference" else 30 for name in arms} | (steps or {})
    base = FinetuneConfig(model=model, data=data, seed=seed)
    timers: dict[str, list[StepTimer]] = {name: [] for name in arms}
    for round_number in range(rounds):
        for name in arms:
            say(f"train bench: {name}, round {round_number + 1}/{rounds}")
            timers[name].append(_run_arm(base, ARMS[name], warmup + steps[name]))
    results: dict[str, Any] = {}
    for name, runs in timers.items():
        seconds = [s for t in runs for s in t.seconds[warmup:]]
        samples = [n for t in runs for n in t.samples[warmup:]]
        tokens = [n for t in runs for n in t.tokens[warmup:]]
        median_step = statistics.median(seconds)
        results[name] = {
            "samples_per_second": round(statistics.median(samples) / median_step, 3),
            "mean_samples_per_second": round(sum(samples) / sum(seconds), 3),
            "real_tokens_per_second": round(sum(tokens) / sum(seconds), 1),
            "median_step_seconds": round(median_step, 4),
            "timed_steps": len(seconds),
            "batch_size": statistics.median(samples),
            "dtype": runs[0].dtype,  # type: ignore[attr-defined]
            "max_length": runs[0].max_length,  # type: ignore[attr-defined]
        }
    if "reference" in results:
        reference = results["reference"]
        for entry in results.values():
            entry["ratio"] = round(entry["samples_per_second"] / reference["samples_per_second"], 2)
            entry["mean_ratio"] = round(
                entry["mean_samples_per_second"] / reference["mean_samples_per_second"], 2
            )
    return {"model": model, "data": data, "warmup": warmup, "rounds": rounds, "arms": results}


def scenario(options: BenchOptions) -> list[Row]:
    """The `train` rows of `plm bench`: each arm's samples/s, default vs reference."""
    model = options.encoder
    if options.quick:
        measured = measure_training(
            model, steps={"reference": 1}, warmup=1, rounds=1,
            arms=("reference", "default"),
        )  # fmt: skip
    else:
        measured = measure_training(model)
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
                note=f"{entry['dtype']}; mean-based ratio {entry.get('mean_ratio')}",
            )
        )
    return rows
