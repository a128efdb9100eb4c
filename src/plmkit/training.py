"""Training plumbing shared by the recipes (fine-tuning here, pre-training in recipes/pretrain_*).

A recipe composes these pieces around a Hugging Face `Trainer`; none of them prints.

- `decide_bf16(requested)`: bf16 autocast or fp32, and why (`hardware.use_bf16()` decides auto).
- `training_arguments(output_dir, train_size=..., ...)`: `TrainingArguments` with the fast CPU
  defaults: length-grouped batches, fused AdamW, warmup (steps computed from a ratio: the
  `warmup_ratio` argument is gone in transformers 5) + linear decay, bf16 where it pays, no tqdm,
  no reporting integrations, checkpoints each epoch (or each `save_steps`).
- `AtomicTrainer`: a `Trainer` whose checkpoints appear atomically: written to a hidden
  `.tmp-checkpoint-N-*` directory, fsynced, then renamed to `checkpoint-N`. A run killed mid-save
  leaves only a hidden temp directory that nothing reads; `checkpoint-N` is always complete.
  `evaluator=` swaps in the recipe's own streaming evaluation for `Trainer.evaluate`.
- `last_complete_checkpoint(run_dir)`, `resume_checkpoint(run_dir, resume)`,
  `remove_partial_checkpoints(run_dir)`: what `--resume` continues from (HF restores the
  optimizer, scheduler, RNG states and data order from it, so a resumed run ends where an
  uninterrupted one does).
- `ProgressCallback(on_event)`: step / loss / eval / save events as dicts for a progress display,
  plus training throughput (samples/s, real tokens/s); also logged to the `plmkit` logger.
- `padding_report(lengths, batch_size, ...)`: tokens a batching scheme pays for, vs. padding
  every text to `pad_to` (the reference recipe), so recipes can report the waste avoided.
- `run_record(...)`, `model_revision(spec)`: the provenance block of a results JSON (versions,
  seed, model revision, data hash, hardware, dtype); `write_json_atomic(path, data)`.
- `save_model_dir(model, tokenizer, out, record)`: the final model directory (safetensors,
  tokenizer, `plmkit.json`) written through a temp directory; `plmkit.json` lands last.

Optimizer, scheduler and RNG state files inside checkpoints are HF's torch files; HF loads them
with `weights_only=True`, so no pickle code runs. Model weights are always safetensors.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainerCallback

from plmkit.errors import CheckpointError
from plmkit.paths import write_json_atomic  # noqa: F401 - part of this module's API

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments

    from plmkit.registry import ModelSpec

log = logging.getLogger("plmkit")

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STAGING_PREFIX = ".tmp-checkpoint-"
RESULTS_FILE = "plmkit.json"
# Files a checkpoint must hold to be resumed from (HF's names).
CHECKPOINT_REQUIRED = ("model.safetensors", "trainer_state.json")


# --------------------------------------------------------------------------- dtype and arguments


def decide_bf16(requested: bool | None = None) -> tuple[bool, str]:
    """(use bf16 autocast?, reason). None = auto: only where native and measured faster."""
    from plmkit.hardware import bf16_speedup, cpu_info, use_bf16

    info = cpu_info()
    if requested is False:
        return False, "fp32 (asked for)"
    if requested is True:
        if not info.native_bf16:
            return True, "bf16 autocast (asked for; this CPU has no native bf16: expect it slower)"
        return True, "bf16 autocast (asked for)"
    if use_bf16():
        return True, f"bf16 autocast (native bf16, matmul {bf16_speedup():.1f}x faster than fp32)"
    if not info.native_bf16:
        return False, "fp32 (no native bf16 on this CPU: bf16 autocast would be slower)"
    return False, f"fp32 (bf16 matmul measured only {bf16_speedup():.2f}x fp32 here)"


def total_steps(train_size: int, batch_size: int, epochs: float, accumulation: int = 1) -> int:
    """Optimizer steps for `epochs` over `train_size` samples (last partial batch included)."""
    per_epoch = max(1, -(-train_size // batch_size) // accumulation)
    return max(1, int(round(per_epoch * epochs)))


def training_arguments(
    output_dir: str | Path,
    *,
    train_size: int,
    batch_size: int = 32,
    epochs: float = 3.0,
    learning_rate: float = 5e-5,
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    seed: int = 42,
    max_steps: int | None = None,
    bf16: bool = False,
    group_by_length: bool = True,
    fused_adamw: bool = True,
    evaluate: bool = True,
    eval_steps: int | None = None,
    save_steps: int | None = None,
    metric_for_best_model: str | None = None,
    greater_is_better: bool = True,
    save_total_limit: int | None = 2,
    logging_steps: int | None = None,
    gradient_accumulation_steps: int = 1,
    **overrides: Any,
) -> TrainingArguments:
    """`TrainingArguments` with plmkit's fast CPU defaults; `overrides` win over everything.

    Evaluation and saving happen each epoch, or each `eval_steps` / `save_steps` when given.
    With `metric_for_best_model` the best checkpoint is kept and loaded at the end (needed for
    early stopping). `max_steps` caps training (warmup is computed from whichever is shorter).
    """
    from transformers import TrainingArguments

    steps = total_steps(train_size, batch_size, epochs, gradient_accumulation_steps)
    if max_steps is not None:
        steps = min(steps, max_steps) if epochs else max_steps
    by_steps = eval_steps is not None or save_steps is not None
    save_every = save_steps or eval_steps
    eval_every = eval_steps or save_steps
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size * 2,
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps is not None else -1,
        learning_rate=learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=int(round(warmup_ratio * steps)),
        weight_decay=weight_decay,
        optim="adamw_torch_fused" if fused_adamw else "adamw_torch",
        bf16=bf16,
        seed=seed,
        data_seed=seed,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        gradient_accumulation_steps=gradient_accumulation_steps,
        eval_strategy=("steps" if by_steps else "epoch") if evaluate else "no",
        eval_steps=eval_every if evaluate and by_steps else None,
        save_strategy="steps" if by_steps else "epoch",
        save_steps=save_every if by_steps else 500,
        save_total_limit=save_total_limit,
        load_best_model_at_end=bool(evaluate and metric_for_best_model),
        metric_for_best_model=metric_for_best_model if evaluate else None,
        greater_is_better=greater_is_better if metric_for_best_model else None,
        logging_strategy="steps",
        logging_steps=logging_steps or max(1, min(50, steps // 20)),
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        save_only_model=False,
        use_cpu=not _cuda_available(),
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# --------------------------------------------------------------------------- atomic checkpoints


class AtomicTrainer(Trainer):
    """A `Trainer` whose `checkpoint-N` directories appear complete or not at all.

    `evaluator(model) -> {"accuracy": ..., ...}` replaces `Trainer.evaluate` (the recipe's own
    length-sorted, streaming evaluation); metrics are prefixed with `eval_` as HF expects.
    """

    def __init__(self, *args: Any, evaluator: Callable[[Any], dict] | None = None, **kwargs: Any):
        from transformers.trainer_callback import PrinterCallback

        super().__init__(*args, **kwargs)
        self.remove_callback(PrinterCallback)  # progress goes through ProgressCallback instead
        self._evaluator = evaluator
        self._staging_root: str | None = None
        self._counters = [
            cb for cb in self.callback_handler.callbacks if isinstance(cb, ProgressCallback)
        ]

    def training_step(self, model: Any, inputs: dict, num_items_in_batch: Any = None) -> Any:
        mask = inputs.get("attention_mask")
        if mask is not None:
            for counter in self._counters:
                counter.count_batch(mask)
        return super().training_step(model, inputs, num_items_in_batch)

    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        from transformers.trainer_utils import rotate_checkpoints

        run_dir = super()._get_output_dir(trial)
        os.makedirs(run_dir, exist_ok=True)
        name = f"checkpoint-{self.state.global_step}"
        self._staging_root = tempfile.mkdtemp(
            prefix=f"{STAGING_PREFIX}{self.state.global_step}-", dir=run_dir
        )
        try:
            super()._save_checkpoint(model, trial)  # writes <staging>/checkpoint-N, rotates nothing
            staged = Path(self._staging_root) / name
            # HF pointed best_model_checkpoint at the staging copy: point it where it will live.
            best_step = self.state.best_global_step
            if best_step:
                best = os.path.join(run_dir, f"checkpoint-{best_step}")
                if best_step == self.state.global_step or os.path.isdir(best):
                    self.state.best_model_checkpoint = best
                self.state.save_to_json(str(staged / "trainer_state.json"))
            _fsync_tree(staged)
            final = Path(run_dir) / name
            if final.exists():  # the same step saved again (after a resume): swap it out
                shutil.rmtree(final)
            os.replace(staged, final)
            _fsync_dir(Path(run_dir))
        finally:
            shutil.rmtree(self._staging_root, ignore_errors=True)
            self._staging_root = None
        if self.args.should_save:
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        if self._evaluator is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        start = time.perf_counter()
        results = self._evaluator(self.model)
        metrics = {
            f"{metric_key_prefix}_{k}": float(v)
            for k, v in results.items()
            if isinstance(v, (int, float))
        }
        metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - start, 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete `checkpoint-N` directories under `run_dir`, oldest step first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for path in run_dir.iterdir():
        match = CHECKPOINT_RE.match(path.name)
        if match and path.is_dir() and all((path / f).is_file() for f in CHECKPOINT_REQUIRED):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def last_complete_checkpoint(run_dir: str | Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


def remove_partial_checkpoints(run_dir: str | Path) -> list[Path]:
    """Delete temp directories left by a run killed mid-save; returns what was removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    removed = [p for p in run_dir.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def resume_checkpoint(run_dir: str | Path, resume: bool | str | Path) -> str | None:
    """The checkpoint `--resume` continues from: the last complete one under `run_dir`, or
    the directory given. None when `resume` is False. A clear error when there is none."""
    if resume is False or resume is None:
        return None
    remove_partial_checkpoints(run_dir)
    if resume is True:
        found = last_complete_checkpoint(run_dir)
        if found is None:
            raise CheckpointError(
                f"--resume: no complete checkpoint under {run_dir}",
                "run without --resume to start fresh (checkpoints are written each epoch)",
            )
        return str(found)
    path = Path(resume)
    if not all((path / f).is_file() for f in CHECKPOINT_REQUIRED):
        raise CheckpointError(
            f"{path} is not a complete checkpoint (needs {', '.join(CHECKPOINT_REQUIRED)})",
            f"pass --resume alone to use the last complete checkpoint under {run_dir}",
        )
    return str(path)


# --------------------------------------------------------------------------- progress


class ProgressCallback(TrainerCallback):
    """Turns Trainer events into dicts for `on_event` (and log lines), with throughput.

    Events: {"event": "start", "max_steps", "epochs"}, {"event": "log", "step", "epoch", "loss",
    "learning_rate", "samples_per_second"}, {"event": "evaluate", "step", "epoch", **metrics},
    {"event": "save", "step", "checkpoint"}, {"event": "end", "step", "seconds",
    "samples_per_second", "tokens_per_second", "wall_seconds"}. Throughput counts only the
    time inside training steps (not evaluation or saving); `tokens_per_second` counts real
    (non-pad) tokens from the batches' attention masks, which `AtomicTrainer` feeds in.
    """

    def __init__(self, on_event: Callable[[dict], None] | None = None) -> None:
        self.on_event = on_event
        self.samples = 0
        self.tokens = 0
        self.padded_tokens = 0
        self.seconds = 0.0
        self._step_start: float | None = None
        self._train_start: float | None = None

    def _emit(self, event: dict) -> None:
        log.debug("train %s", event)
        if self.on_event is not None:
            self.on_event(event)

    def count_batch(self, attention_mask: Any) -> None:
        """Called by the collator for each training batch: (B, T) attention mask."""
        self.samples += int(attention_mask.shape[0])
        self.tokens += int(attention_mask.sum())
        self.padded_tokens += int(attention_mask.numel())

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._train_start = time.perf_counter()
        self._emit(
            {
                "event": "start",
                "max_steps": state.max_steps,
                "epochs": args.num_train_epochs,
                "step": state.global_step,
            }
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
                {
                    "event": "log",
                    "step": state.global_step,
                    "max_steps": state.max_steps,
                    "epoch": round(state.epoch or 0.0, 3),
                    "loss": logs["loss"],
                    "learning_rate": logs.get("learning_rate"),
                    "samples_per_second": round(self.samples_per_second, 2),
                }
            )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        clean = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
        self._emit(
            {
                "event": "evaluate",
                "step": state.global_step,
                "epoch": round(state.epoch or 0.0, 3),
                **clean,
            }
        )

    def on_save(self, args, state, control, **kwargs):
        self._emit(
            {
                "event": "save",
                "step": state.global_step,
                "checkpoint": os.path.join(args.output_dir, f"checkpoint-{state.global_step}"),
            }
        )

    def on_train_end(self, args, state, control, **kwargs):
        wall = time.perf_counter() - self._train_start if self._train_start else 0.0
        self._emit(
            {
                "event": "end",
                "step": state.global_step,
                "seconds": round(self.seconds, 2),
                "wall_seconds": round(wall, 2),
                "samples_per_second": round(self.samples_per_second, 2),
                "tokens_per_second": round(self.tokens / self.seconds, 1) if self.seconds else 0.0,
            }
        )


# --------------------------------------------------------------------------- padding report


def padding_report(
    lengths: Sequence[int],
    batch_size: int,
    *,
    group_by_length: bool,
    pad_to: int = 512,
    pad_to_multiple_of: int | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """Tokens paid for under dynamic padding (with or without length grouping) vs. padding
    every text to `pad_to`; `waste_avoided` is the share of the fixed-length tokens saved.
    Batches are drawn with HF's own length-grouped (or random) order for `seed`.
    """
    import numpy as np
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = np.asarray(lengths, dtype=np.int64)
    generator = torch.Generator().manual_seed(seed)
    if group_by_length and len(lengths):
        order = np.asarray(
            get_length_grouped_indices(lengths.tolist(), batch_size, generator=generator)
        )
    else:
        order = torch.randperm(len(lengths), generator=generator).numpy()
    paid = 0
    for start in range(0, len(order), batch_size):
        longest = int(lengths[order[start : start + batch_size]].max())
        if pad_to_multiple_of:
            longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
        paid += longest * len(order[start : start + batch_size])
    real = int(lengths.sum())
    fixed = int(len(lengths) * pad_to)
    return {
        "real_tokens": real,
        "padded_tokens": paid,
        "padding_share": round(1 - real / paid, 4) if paid else 0.0,
        "fixed_length": pad_to,
        "fixed_length_tokens": fixed,
        "fixed_length_padding_share": round(1 - real / fixed, 4) if fixed else 0.0,
        "waste_avoided": round(1 - paid / fixed, 4) if fixed else 0.0,
        "max_length": int(lengths.max()) if len(lengths) else 0,
        "mean_length": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
    }


# --------------------------------------------------------------------------- provenance


def model_revision(spec: ModelSpec) -> str | None:
    """Package version for embedded models, the snapshot commit for hub ids, the base model's
    recorded revision (or None) for a local directory."""
    if spec.source == "embedded":
        return spec.revision
    from plmkit.loading import model_dir

    path = model_dir(spec)
    if spec.source == "hub":
        return path.name if path.parent.name == "snapshots" else spec.revision
    record = path / RESULTS_FILE
    if record.is_file():
        try:
            return json.loads(record.read_text()).get("model", {}).get("revision")
        except (OSError, ValueError):
            return None
    return None


def versions() -> dict[str, str]:
    import importlib.metadata

    found = {"python": platform.python_version()}
    for name in (
        "plmkit",
        "torch",
        "transformers",
        "accelerate",
        "datasets",
        "tokenizers",
        "safetensors",
    ):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def run_record(
    *,
    seed: int,
    spec: ModelSpec | None = None,
    data_hash: str | None = None,
    bf16: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provenance every results JSON carries, plus `extra` fields (config, metrics...)."""
    import torch

    from plmkit.hardware import cpu_info

    record: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": seed,
        "versions": versions(),
        "hardware": {
            "cpu": cpu_info().to_dict(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }
    if spec is not None:
        record["model"] = {
            "name": spec.name,
            "source": spec.source,
            "locator": spec.locator,
            "revision": model_revision(spec),
        }
    if data_hash is not None:
        record["data_hash"] = data_hash
    if bf16 is not None:
        record["dtype"] = "bf16 autocast" if bf16 else "fp32"
    record.update(extra)
    return record


def save_model_dir(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out: str | Path,
    record: dict[str, Any],
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Save the final model into `out` (safetensors + tokenizer + `plmkit.json`).

    `extra_files` (name -> text) are written alongside, e.g. calibration.jsonl.

    Files are written to a temp directory first and moved in one by one, `plmkit.json` last:
    a directory with a `plmkit.json` is a finished model. `out` may already hold checkpoints.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-model-", dir=out))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        _fsync_tree(staging)
        for path in sorted(staging.iterdir()):
            target = out / path.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_json_atomic(out / RESULTS_FILE, record)
    _fsync_dir(out)
    return out
