"""The progress events long work sends to its `on_event` callback, one frozen dataclass a kind.

Recipes and `ProgressCallback` never print: they call `on_event(event)` with one of these, and
the caller decides what to show (the CLI's printers are `plmkit.cli.console`). Dispatch with
`isinstance` (or `match`); `event.kind` names the kind and `event.to_dict()` gives the flat
JSON-ready form, e.g. `{"event": "log", "step": 10, ...}`.

In the order a run sends them:
- `Stage`: a pre-training phase begins (reading the corpus, loading the model, ...).
- `CompareArm`: `compare_finetuning` starts fine-tuning its next starting model.
- `DataSplits`, `Setup`: fine-tuning's data is split / its model and batching are set up.
- `ScoresBefore`: pre-training's held-out figures before any step.
- `WorldSetup`: the processes a training runs on (torchrun) and its global batch.
- `TrainStart`, `TrainLog`, `Evaluation`, `CheckpointSaved`, `TrainEnd`: the Trainer's run;
  `TrainStep` after every step (progress bars and periodic lines).
- `ScoresAfter`: pre-training's held-out figures after training, on the same blocks.
- `FinalMetrics`, `ModelSaved`: fine-tuning's final validation / test figures, the saved model.
- `ReportWritten`: the run's report.html (`plmkit.report`) is written beside its outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of every progress event."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        """`{"event": kind, **fields}`: the form a JSON log or a log line takes."""
        return {"event": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


OnEvent = Callable[[Event], None]
"""What `on_event` callbacks look like."""


def ignore(event: Event) -> None:
    """The `on_event` of a caller that did not ask for progress."""


@dataclass(frozen=True)
class Stage(Event):
    kind: ClassVar[str] = "stage"
    stage: str
    """What begins, e.g. "packing the corpus"."""


@dataclass(frozen=True)
class CompareArm(Event):
    kind: ClassVar[str] = "arm"
    model: str
    index: int
    """1-based position of this arm among `of`."""
    of: int


@dataclass(frozen=True)
class DataSplits(Event):
    kind: ClassVar[str] = "data"
    sizes: Mapping[str, int]
    """Rows per split: train, and validation / test where there are some."""
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **self.sizes, "labels": self.labels}


@dataclass(frozen=True)
class Setup(Event):
    kind: ClassVar[str] = "setup"
    model: str
    recipe: str
    dtype: str
    """The dtype chosen and why (`decide_bf16`'s reason)."""
    max_length: int
    padding: Mapping[str, Any]
    """`padding_report` of the training batches."""
    settings: Mapping[str, Any]
    """The recipe's settings after the config's overrides."""


@dataclass(frozen=True)
class HeldOutScores(Event):
    """Held-out figures of a pre-training run (loss, accuracy or perplexity, ...)."""

    scores: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **self.scores}


@dataclass(frozen=True)
class ScoresBefore(HeldOutScores):
    kind: ClassVar[str] = "before"


@dataclass(frozen=True)
class ScoresAfter(HeldOutScores):
    kind: ClassVar[str] = "after"


@dataclass(frozen=True)
class WorldSetup(Event):
    kind: ClassVar[str] = "world"
    record: Mapping[str, Any]
    """`training.distributed.world_record`: world size, nodes, backend, threads, global batch."""

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **self.record}


@dataclass(frozen=True)
class TrainStart(Event):
    kind: ClassVar[str] = "start"
    max_steps: int
    epochs: float
    step: int
    """Above 0 when resuming."""


@dataclass(frozen=True)
class TrainLog(Event):
    """A logged training step."""

    kind: ClassVar[str] = "log"
    step: int
    max_steps: int
    epoch: float
    loss: float
    learning_rate: float | None
    samples_per_second: float


@dataclass(frozen=True)
class Evaluation(Event):
    kind: ClassVar[str] = "evaluate"
    step: int
    epoch: float
    metrics: Mapping[str, Any]
    """The evaluator's figures without HF's `eval_` prefix (accuracy, macro_f1, runtime...)."""

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "step": self.step, "epoch": self.epoch, **self.metrics}


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "save"
    step: int
    checkpoint: str
    """The `checkpoint-N` directory."""


@dataclass(frozen=True)
class TrainEnd(Event):
    kind: ClassVar[str] = "end"
    step: int
    seconds: float
    """Time inside training steps only."""
    wall_seconds: float
    samples_per_second: float
    tokens_per_second: float
    """Real (non-pad) tokens per second of step time."""


@dataclass(frozen=True)
class FinalMetrics(Event):
    kind: ClassVar[str] = "metrics"
    metrics: Mapping[str, Mapping[str, float]]
    """Split -> {"accuracy", "macro_f1"} of the model kept."""

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **self.metrics}


@dataclass(frozen=True)
class ModelSaved(Event):
    kind: ClassVar[str] = "saved"
    out: str


@dataclass(frozen=True)
class ReportWritten(Event):
    kind: ClassVar[str] = "report"
    path: str | None
    """The run's report.html, or None when it could not be written (see `error`)."""
    error: str | None = None


@dataclass(frozen=True)
class TrainStep(Event):
    """Sent after every optimizer step (`training.heartbeat.StepEvents`): what a progress bar
    or a periodic log line shows between the logged steps."""

    kind: ClassVar[str] = "step"
    step: int
    max_steps: int
    epoch: float
    loss: float | None
    """The last logged training loss (None before the first log)."""
    steps_per_second: float
    """Optimizer steps per wall-clock second since training (re)started."""
    eta_seconds: float | None
    elapsed_seconds: float
