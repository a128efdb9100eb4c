"""`ProgressCallback`: the Trainer's progress as typed events (`training.events`), with throughput.

It sends `TrainStart`, `TrainLog` (each logged step), `Evaluation`, `CheckpointSaved` and
`TrainEnd` to `on_event`, and logs each at debug level to the `plmkit` logger. Throughput counts
only the time inside training steps (not evaluation or saving); real tokens come from the
batches' attention masks, which `AtomicTrainer` feeds to `count_batch`.

On N processes (torchrun) each sees 1 / N of every global batch: samples and tokens count this
process's batch times N (batches are equal-sized, so samples are exact and tokens an estimate),
and only rank 0 sends events, the first being `WorldSetup` (world size, global batch).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from transformers import TrainerCallback

from plmkit.training import distributed
from plmkit.training.events import (
    CheckpointSaved,
    Evaluation,
    Event,
    OnEvent,
    TrainEnd,
    TrainLog,
    TrainStart,
    WorldSetup,
)

log = logging.getLogger("plmkit")


class ProgressCallback(TrainerCallback):
    """Turns Trainer callbacks into events for `on_event` (and log lines), with throughput."""

    def __init__(self, on_event: OnEvent | None = None) -> None:
        self.on_event = on_event
        self.samples = 0
        self.tokens = 0
        self.padded_tokens = 0
        self.seconds = 0.0
        self._step_start: float | None = None
        self._train_start: float | None = None
        self._processes = 1

    def _emit(self, event: Event) -> None:
        if not distributed.is_main_process():
            return
        log.debug("train %s", event.to_dict())
        if self.on_event is not None:
            self.on_event(event)

    def count_batch(self, attention_mask: Any) -> None:
        """Called for each training batch with its (B, T) attention mask."""
        processes = self._processes
        self.samples += int(attention_mask.shape[0]) * processes
        self.tokens += int(attention_mask.sum()) * processes
        self.padded_tokens += int(attention_mask.numel()) * processes

    def world_setup(self, record: dict[str, Any]) -> None:
        """Announce the run's processes and global batch (`distributed.world_record`) when
        there are several (one process's run sends the events it always did)."""
        self._processes = int(record["world_size"])
        if self._processes > 1:
            self._emit(WorldSetup(record=record))

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Real (non-pad) tokens per second of step time, 0.0 before any step."""
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._train_start = time.perf_counter()
        self._emit(
            TrainStart(
                max_steps=state.max_steps, epochs=args.num_train_epochs, step=state.global_step
            )
        )

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_start is not None:
            self.seconds += time.perf_counter() - self._step_start
            self._step_start = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self._emit(
                TrainLog(
                    step=state.global_step,
                    max_steps=state.max_steps,
                    epoch=round(state.epoch or 0.0, 3),
                    loss=logs["loss"],
                    learning_rate=logs.get("learning_rate"),
                    samples_per_second=round(self.samples_per_second, 2),
                )
            )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        clean = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
        self._emit(
            Evaluation(step=state.global_step, epoch=round(state.epoch or 0.0, 3), metrics=clean)
        )

    def on_save(self, args, state, control, **kwargs):
        checkpoint = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        self._emit(CheckpointSaved(step=state.global_step, checkpoint=checkpoint))

    def on_train_end(self, args, state, control, **kwargs):
        wall = time.perf_counter() - self._train_start if self._train_start else 0.0
        self._emit(
            TrainEnd(
                step=state.global_step,
                seconds=round(self.seconds, 2),
                wall_seconds=round(wall, 2),
                samples_per_second=round(self.samples_per_second, 2),
                tokens_per_second=round(self.tokens_per_second, 1),
            )
        )
