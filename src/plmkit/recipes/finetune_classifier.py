"""Fine-tune a pre-trained encoder into a text classifier (`plm finetune`).

    result = finetune(FinetuneConfig(model="minilm", data="movie-snippets", out="runs/sentiment"))

Read top to bottom, `prepare` then `finetune` do: seeded train / validation / test splits ->
tokenize once, unpadded -> choose max_length from the data -> model with a fresh head -> HF
Trainer set up by `plmkit.training` (the recipe's batch size, schedule and dtype) with
evaluation each epoch on the validation split, early stopping and the best checkpoint kept ->
final validation and test metrics -> the model directory with `plmkit.json` (provenance,
metrics, timing, padding). `prepare` stops before training (the benchmark reuses it). The
recipe's values for the config fields left at None come from `finetune_settings`.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plmkit import loading, training
from plmkit.backends.calibration import CALIBRATION_FILE, labelled_jsonl
from plmkit.config import FinetuneConfig
from plmkit.data import TextDataset, load_dataset_splits
from plmkit.errors import DataError
from plmkit.pipelines.classify import (
    model_max_length,
    stream_confusion,
    tokenize_for_classifier,
    torch_forward,
)
from plmkit.recipes import run_files
from plmkit.recipes.finetune_settings import (
    REFERENCE_LENGTH,
    epochs_for_dtype,
    recipe_settings,
)
from plmkit.registry import resolve
from plmkit.training.distributed import barrier, is_main_process
from plmkit.training.events import DataSplits, FinalMetrics, ModelSaved, OnEvent, Setup, ignore

PAD_MULTIPLE = 8  # bf16 / fp32 GEMM kernels run best on multiples of 8


@dataclass
class FinetuneResult:
    out: Path
    record: dict[str, Any]
    """What plmkit.json holds: provenance, settings, data, padding, timing, metrics."""

    @property
    def metrics(self) -> dict[str, Any]:
        return self.record["metrics"]


@dataclass
class Prepared:
    """Everything `finetune` sets up before training: the benchmark reuses it as is."""

    config: FinetuneConfig
    settings: dict[str, Any]
    spec: Any
    trainer: training.AtomicTrainer
    progress: training.ProgressCallback
    tokenizer: Any
    splits: dict[str, TextDataset]
    eval_ids: dict[str, list]
    max_length: int
    padding: dict[str, Any]
    bf16: bool
    dtype_reason: str
    train_lengths: list[int] = dataclasses.field(default_factory=list)
    """Token count of each training text (the report's histogram)."""


def prepare(
    config: FinetuneConfig,
    on_event: OnEvent | None = None,
    callbacks: Sequence[Any] = (),
) -> Prepared:
    """Splits, tokenization, model and a Trainer set up by the recipe; nothing trained yet.
    `callbacks` are added to the Trainer's (the benchmark times steps with one)."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed

    config.validate()
    settings = recipe_settings(config)
    emit = on_event or ignore
    spec = resolve(settings["model"])
    loading.model_dir(spec)  # a missing or uncached model fails before the data is read
    out = Path(config.out)
    checkpoint_dir = out / "checkpoints"

    # data: seeded, stratified splits; labels as ids with a stable name list
    splits = load_dataset_splits(
        config.data,
        text_column=config.text_column,
        label_column=config.label_column,
        split=config.split,
        seed=config.seed,
        test_size=config.test_size,
        validation_size=config.validation_size,
        drop_empty=config.drop_empty,
    )
    train, validation, test = splits["train"], splits.get("validation"), splits.get("test")
    _check_train_split(train)
    label_names = train.label_names
    emit(DataSplits(sizes={name: len(split) for name, split in splits.items()}, labels=label_names))

    # tokenize once, unpadded; the data decides max_length (the reference pads to 512)
    tokenizer = loading.load_tokenizer(spec)
    limit = model_max_length(tokenizer, loading.load_config(spec))
    if settings["pad_to"]:
        max_length = min(settings["pad_to"], limit)
    else:
        max_length = min(config.max_length or limit, limit)
    train_ids = tokenize_for_classifier(tokenizer, train.texts, max_length)
    lengths = [len(ids) for ids in train_ids]
    if not settings["pad_to"]:
        max_length = min(max_length, max(lengths))
    padding = training.padding_report(
        lengths,
        settings["batch_size"],
        group_by_length=settings["group_by_length"],
        pad_to=min(REFERENCE_LENGTH, limit),
        pad_to_multiple_of=None if settings["pad_to"] else PAD_MULTIPLE,
        seed=config.seed,
    )
    if settings["pad_to"]:
        padding["padded_tokens"] = padding["fixed_length_tokens"]
        padding["waste_avoided"] = 0.0
    eval_ids = {
        name: tokenize_for_classifier(tokenizer, split.texts, max_length)
        for name, split in (("validation", validation), ("test", test))
        if split is not None
    }

    # model: a fresh head, seeded
    set_seed(config.seed)
    model = loading.load_for_finetune(spec, len(label_names), train.id2label)
    if settings["freeze_embeddings"]:
        model.get_input_embeddings().weight.requires_grad_(False)
    bf16, dtype_reason = training.decide_bf16(settings["bf16"])
    epochs_for_dtype(settings, config, bf16)
    emit(
        Setup(
            model=spec.name,
            recipe=config.recipe,
            dtype=dtype_reason,
            max_length=max_length,
            padding=padding,
            settings=settings,
        )
    )

    evaluate_each_epoch = settings["evaluate_each_epoch"] and validation is not None
    patience = settings["early_stopping_patience"] if evaluate_each_epoch else 0
    args = training.training_arguments(
        checkpoint_dir,
        train_size=len(train),
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        learning_rate=settings["learning_rate"],
        warmup_ratio=settings["warmup_ratio"],
        weight_decay=settings["weight_decay"],
        seed=config.seed,
        max_steps=config.max_steps,
        bf16=bf16,
        group_by_length=settings["group_by_length"],
        fused_adamw=settings["fused_adamw"],
        evaluate=evaluate_each_epoch,
        metric_for_best_model="macro_f1" if evaluate_each_epoch else None,
        per_device_eval_batch_size=config.eval_batch_size,
    )
    collator = DataCollatorWithPadding(
        tokenizer,
        padding="max_length" if settings["pad_to"] else "longest",
        max_length=max_length if settings["pad_to"] else None,
        pad_to_multiple_of=None if settings["pad_to"] else PAD_MULTIPLE,
    )
    progress = training.ProgressCallback(emit)
    callbacks = [progress, training.StepEvents(emit), *callbacks]
    if patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=patience))

    def evaluator(network: Any) -> dict[str, float]:
        matrix = stream_confusion(
            torch_forward(network),
            tokenizer,
            eval_ids["validation"],
            validation.labels,
            len(label_names),
            config.eval_batch_size,
        )
        return {"accuracy": matrix.accuracy(), "macro_f1": matrix.macro_f1()}

    trainer = training.AtomicTrainer(
        model=model,
        args=args,
        train_dataset=[
            {"input_ids": ids, "labels": label}
            for ids, label in zip(train_ids, train.labels or [], strict=True)
        ],
        # HF insists on an eval_dataset when evaluating; `evaluator` is what actually runs
        eval_dataset=[{"input_ids": ids} for ids in eval_ids.get("validation", [])] or None,
        data_collator=collator,
        evaluator=evaluator if validation is not None else None,
        callbacks=callbacks,
        compute_loss_func=_weighted_loss(train, len(label_names))
        if config.class_weights == "auto"
        else None,
    )
    return Prepared(
        config=config,
        settings=settings,
        spec=spec,
        trainer=trainer,
        progress=progress,
        tokenizer=tokenizer,
        splits=splits,
        eval_ids=eval_ids,
        max_length=max_length,
        padding=padding,
        bf16=bf16,
        dtype_reason=dtype_reason,
        train_lengths=lengths,
    )


def finetune(
    config: FinetuneConfig, on_event: OnEvent | None = None, *, report: bool = True
) -> FinetuneResult:
    """Train, evaluate and save a classifier; progress goes to `on_event` as
    `training.events` (DataSplits, Setup, the Trainer's, FinalMetrics, ModelSaved, and
    ReportWritten when `report`: out/report.html, see `plmkit.report`)."""
    run = prepare(config, on_event)
    settings, spec, trainer, progress = run.settings, run.spec, run.trainer, run.progress
    tokenizer, splits, eval_ids = run.tokenizer, run.splits, run.eval_ids
    train, validation, test = splits["train"], splits.get("validation"), splits.get("test")
    label_names = train.label_names
    emit = on_event or ignore
    out = Path(config.out)
    checkpoint_dir = Path(trainer.args.output_dir)
    if not config.resume and checkpoint_dir.exists() and is_main_process():
        shutil.rmtree(checkpoint_dir)  # a fresh run: stale checkpoints must not be resumed
    barrier()
    resume_from = training.resume_checkpoint(checkpoint_dir, config.resume)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.perf_counter() - started
    if not is_main_process():  # under torchrun rank 0 evaluates and writes; the others are done
        return FinetuneResult(out=out, record={"distributed": trainer.world_record})
    model = trainer.model

    # final metrics of the model we keep (the best checkpoint when evaluating each epoch)
    # one pass per split gives the metrics and the rows the report shows
    metrics: dict[str, Any] = {}
    predictions = None
    for name, split in (("validation", validation), ("test", test)):
        if split is not None:
            matrix, probabilities = run_files.split_predictions(
                torch_forward(model),
                tokenizer,
                eval_ids[name],
                split.labels or [],
                len(label_names),
                config.eval_batch_size,
            )
            metrics[name] = matrix.report(label_names)
            predictions = run_files.predictions_jsonl(
                name, split.texts, split.labels or [], probabilities
            )
    emit(FinalMetrics({k: {m: v[m] for m in ("accuracy", "macro_f1")} for k, v in metrics.items()}))

    record = training.run_record(
        seed=config.seed,
        spec=spec,
        data_hash=train.data_hash(),
        bf16=run.bf16,
        task="text-classification",
        recipe=config.recipe,
        config=dataclasses.asdict(config),
        settings=settings,
        dtype_reason=run.dtype_reason,
        data={
            "source": config.data,
            "hub_split": config.split,
            "text_column": config.text_column,
            "label_column": config.label_column,
            "seed": config.seed,
            "test_size": config.test_size,
            "validation_size": config.validation_size,
            "sizes": {name: len(split) for name, split in splits.items()},
            "hashes": {name: split.data_hash() for name, split in splits.items()},
        },
        labels=label_names,
        max_length=run.max_length,
        padding=run.padding,
        training={
            "seconds": round(train_seconds, 2),
            "train_step_seconds": round(progress.seconds, 2),
            "samples_per_second": round(progress.samples_per_second, 2),
            "real_tokens_per_second": round(progress.tokens_per_second, 1),
            "steps": trainer.state.global_step,
            "epochs": round(trainer.state.epoch or 0.0, 3),
            "train_loss": round(float(output.training_loss), 6),
            "best_checkpoint_step": trainer.state.best_global_step,
            "resumed_from": resume_from,
            "log_history": trainer.state.log_history,
        },
        metrics=metrics,
        distributed=trainer.world_record,
        data_summary=run_files.data_summary(splits, label_names, run.train_lengths),
    )
    # held-out rows with labels: `--backend auto` keeps accuracy within 0.5 points of fp32
    held_out = validation if validation is not None else test
    extra = None
    if held_out is not None and held_out.labels is not None:
        extra = {CALIBRATION_FILE: labelled_jsonl(held_out.texts, list(held_out.labels))}
    if predictions is not None:
        extra = {**(extra or {}), run_files.PREDICTIONS_FILE: predictions}
    training.save_model_dir(model, tokenizer, out, record, extra)
    if not config.keep_checkpoints:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    emit(ModelSaved(out=str(out)))
    if report:
        run_files.write_run_report(out, emit)
    return FinetuneResult(out=out, record=record)


def _check_train_split(train: TextDataset) -> None:
    present = set(train.labels or [])
    if len(present) < 2:
        raise DataError(
            f"the training split of {train.source} holds a single class "
            f"({train.label_names[next(iter(present))]!r} only)",
            "use data with at least two labels, and enough rows of each",
        )


def _weighted_loss(train: TextDataset, num_labels: int) -> Callable[..., Any]:
    """Cross-entropy weighted by inverse class frequency: n / (K * count_c)."""
    import torch

    counts = torch.bincount(torch.tensor(train.labels), minlength=num_labels).float()
    weights = len(train) / (num_labels * counts.clamp(min=1))

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs.logits.float()  # (B, K)
        return torch.nn.functional.cross_entropy(logits, labels, weight=weights.to(logits.device))

    return loss
