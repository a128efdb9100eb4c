"""The CLI's view of `TrainStep` events: a rich bar (step, loss, rate, time left) on a terminal;
off a terminal (a log file, CI) one line every `PLMKIT_PROGRESS_SECONDS` (default 10)."""

from __future__ import annotations

import sys
from typing import Any

from plmkit.progress import LineTicker, duration
from plmkit.training.events import TrainStep


def step_line(event: TrainStep) -> str:
    """'  step 57/120 (48%)  loss 0.6901  0.31 steps/s  3m23s left  (3m04s so far)'."""
    share = f" ({event.step / event.max_steps:.0%})" if event.max_steps else ""
    loss = f"  loss {event.loss:.4f}" if event.loss is not None else ""
    return (
        f"  step {event.step}/{event.max_steps}{share}{loss}  {event.steps_per_second:.3g} "
        f"steps/s  {duration(event.eta_seconds)} left  ({duration(event.elapsed_seconds)} so far)"
    )


class StepPrinter:
    """Start on `TrainStart`, feed `TrainStep`s, stop on `TrainEnd`."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream
        self._bar: Any = None
        self._task: Any = None
        self._ticker: LineTicker | None = None

    def _out(self) -> Any:
        return self.stream or sys.stderr

    def start(self) -> None:
        self.stop()
        self._ticker = LineTicker()
        out = self._out()
        if self.stream is None and getattr(out, "isatty", lambda: False)():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()

    def step(self, event: TrainStep) -> None:
        if self._ticker is None:
            self.start()
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("training", total=event.max_steps, info="")
            loss = f"loss {event.loss:.4f}  " if event.loss is not None else ""
            info = f"{loss}{event.steps_per_second:.3g} steps/s"
            self._bar.update(self._task, completed=event.step, total=event.max_steps, info=info)
        elif self._ticker is not None and self._ticker.due():
            print(step_line(event), file=self._out(), flush=True)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._task, self._ticker = None, None, None
