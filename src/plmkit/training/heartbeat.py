"""`StepEvents`: a `TrainStep` event after every optimizer step, with rate and time left, so
that a caller can draw a progress bar or print a line every few seconds between the logged
steps (`logging_steps` apart, minutes on a busy CPU)."""

from __future__ import annotations

import time

from transformers import TrainerCallback

from plmkit.training.events import OnEvent, TrainStep


class StepEvents(TrainerCallback):
    """Sends `TrainStep(step, max_steps, epoch, loss, steps/s, ETA)` to `on_event`."""

    def __init__(self, on_event: OnEvent | None = None) -> None:
        self.on_event = on_event
        self._started: float | None = None
        self._first_step = 0
        self._loss: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        self._first_step = state.global_step  # above 0 when resuming

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])

    def on_step_end(self, args, state, control, **kwargs):
        if self.on_event is None or self._started is None:
            return
        elapsed = time.perf_counter() - self._started
        done = state.global_step - self._first_step
        rate = done / elapsed if elapsed > 0 else 0.0
        left = state.max_steps - state.global_step
        self.on_event(
            TrainStep(
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=round(state.epoch or 0.0, 3),
                loss=self._loss,
                steps_per_second=round(rate, 4),
                eta_seconds=round(left / rate, 1) if rate > 0 else None,
                elapsed_seconds=round(elapsed, 1),
            )
        )
