"""`training_arguments(output_dir, train_size=..., ...)`: HF `TrainingArguments` with plmkit's
fast CPU defaults, and `total_steps`, the optimizer steps a run will take.

The defaults: length-grouped batches, fused AdamW, warmup (steps computed from a ratio: the
`warmup_ratio` argument is gone in transformers 5) then linear decay, bf16 where it pays, no
tqdm, no reporting integrations, checkpoints each epoch (or each `save_steps`).

`batch_size` is the global batch: under torchrun each of N processes takes batch_size / N
(`distributed.split_batch`), with DDP over gloo on CPU (`distributed.trainer_overrides`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import TrainingArguments


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
    import torch
    from transformers import TrainingArguments

    from plmkit.training import distributed

    per_device = distributed.split_batch(batch_size, gradient_accumulation_steps)
    steps = total_steps(train_size, batch_size, epochs, gradient_accumulation_steps)
    if max_steps is not None:
        steps = min(steps, max_steps) if epochs else max_steps
    by_steps = eval_steps is not None or save_steps is not None
    save_every = save_steps or eval_steps
    eval_every = eval_steps or save_steps
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=per_device,
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
        use_cpu=not torch.cuda.is_available(),
    )
    kwargs.update(distributed.trainer_overrides())
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)
