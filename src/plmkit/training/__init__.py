"""Training plumbing shared by the recipes (plmkit.recipes); none of it prints.

A recipe composes these pieces around a Hugging Face `Trainer`, one module each:
- `dtype.decide_bf16(requested)`: bf16 autocast or fp32, and why.
- `arguments.training_arguments(output_dir, train_size=..., ...)`: `TrainingArguments` with the
  fast CPU defaults; `total_steps`.
- `trainer.AtomicTrainer`: a `Trainer` whose checkpoints appear atomically, with an optional
  streaming `evaluator`.
- `checkpoint_dirs`: `checkpoints(run_dir)` (the complete ones), `resume_checkpoint(run_dir,
  resume)` (what `--resume` continues from), `remove_partial_checkpoints`.
- `progress.ProgressCallback(on_event)`: step / loss / eval / save events, with throughput.
- `heartbeat.StepEvents(on_event)`: a `TrainStep` after every step (rate, time left).
- `events`: the typed progress events (`Stage`, `TrainLog`, ...) every recipe sends.
- `padding.padding_report(lengths, batch_size, ...)`: the tokens a batching scheme pays for.
- `provenance`: `run_record`, `model_revision`, `save_model_dir` (the final model directory).

The names below are imported on first use, so that `plmkit.training.events` (which the CLI's
printers need) does not pull in transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "AtomicTrainer": "trainer",
    "ProgressCallback": "progress",
    "StepEvents": "heartbeat",
    "checkpoints": "checkpoint_dirs",
    "decide_bf16": "dtype",
    "last_complete_checkpoint": "checkpoint_dirs",
    "model_revision": "provenance",
    "padding_report": "padding",
    "remove_partial_checkpoints": "checkpoint_dirs",
    "resume_checkpoint": "checkpoint_dirs",
    "run_record": "provenance",
    "save_model_dir": "provenance",
    "total_steps": "arguments",
    "training_arguments": "arguments",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"plmkit.training.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'plmkit.training' has no attribute {name!r}")
