"""The encoder fine-tuned as a classifier by `plm finetune`'s default recipe: on every
training label, from random weights, and at the learning curve's smaller sizes.

The full-data rows run `finetune_classifier.finetune` itself (evaluation each epoch, best
checkpoint kept), for `finetune_epochs` epochs. A curve point runs the same recipe's
`prepare` (model, tokenization, collator, optimizer settings) on a subset of the training
rows, for max(`curve_min_steps`, one epoch) steps and without per-epoch evaluation: at 16
examples one epoch is a single step, and evaluating 1,057 validation texts after each of 40
one-step epochs would cost more than the training. The from-scratch encoder is the same
architecture and config as the pre-trained one with fresh random weights (seeded), saved
once so that the recipe loads it like any other model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plmkit import loading, training
from plmkit.config import FinetuneConfig
from plmkit.pipelines.classify import stream_confusion, torch_forward
from plmkit.recipes.finetune_classifier import finetune, prepare
from plmkit.recipes.paradigms.encoder_rows import Scored
from plmkit.recipes.paradigms.settings import ParadigmsConfig


@dataclass
class FinetuneRow:
    scored: Scored
    out: str
    steps: int
    epochs: float


def _config(config: ParadigmsConfig, model: str, out: Path, **extra: Any) -> FinetuneConfig:
    return FinetuneConfig(
        model=model,
        data=config.data,
        out=str(out),
        text_column=config.text_column,
        label_column=config.label_column,
        split=config.split,
        seed=config.seed,
        **extra,
    )


def _test_scored(
    model: Any, tokenizer: Any, ids: list, labels: list[int], num_labels: int, train_seconds: float
) -> Scored:
    started = time.perf_counter()
    matrix = stream_confusion(torch_forward(model), tokenizer, ids, labels, num_labels)
    seconds = time.perf_counter() - started
    return Scored(
        accuracy=round(matrix.accuracy(), 4),
        macro_f1=round(matrix.macro_f1(), 4),
        train_seconds=round(train_seconds, 2),
        examples_per_second=round(len(labels) / max(seconds, 1e-9), 1),
        parameters=sum(p.numel() for p in model.parameters()),
        n_test=len(labels),
    )


def full_finetune(
    config: ParadigmsConfig,
    model: str,
    out: Path,
    max_steps: int | None = None,
    on_event: Any = None,
) -> FinetuneRow:
    """`plm finetune`'s default recipe on every training label, `finetune_epochs` epochs."""
    result = finetune(
        _config(config, model, out, epochs=config.finetune_epochs, max_steps=max_steps),
        on_event=on_event,
    )
    record = result.record
    # the test metrics the recipe computed; inference speed measured again, on the test split
    classifier = loading.load_classifier(str(out))
    tokenizer = loading.load_tokenizer(str(out))
    from plmkit.data import load_dataset_splits

    test = load_dataset_splits(
        config.data,
        text_column=config.text_column,
        label_column=config.label_column,
        split=config.split,
        seed=config.seed,
    )["test"]
    ids = tokenizer(test.texts, truncation=True, max_length=record["max_length"])["input_ids"]
    scored = _test_scored(
        classifier,
        tokenizer,
        ids,
        list(test.labels or []),
        len(test.label_names),
        record["training"]["seconds"],
    )
    test_metrics = record["metrics"]["test"]
    scored.accuracy = round(test_metrics["accuracy"], 4)
    scored.macro_f1 = round(test_metrics["macro_f1"], 4)
    return FinetuneRow(scored, str(out), record["training"]["steps"], record["training"]["epochs"])


def random_init_dir(encoder: str, out: Path, seed: int) -> Path:
    """The encoder's architecture with fresh random weights, saved under `out`."""
    from transformers import AutoModel, set_seed

    set_seed(seed)
    model = AutoModel.from_config(loading.load_config(encoder))
    record = {"task": "random-init", "from_config_of": encoder, "seed": seed}
    return training.save_model_dir(model, loading.load_tokenizer(encoder), out, record)


def curve_point(config: ParadigmsConfig, rows: list[int], seed: int, out: Path) -> FinetuneRow:
    """The default recipe on `rows` of the training split: max(min steps, 1 epoch)."""
    from transformers import set_seed

    run = prepare(_config(config, config.encoder, out, early_stopping_patience=0))
    train = run.splits["train"]
    batch = min(run.settings["batch_size"], len(rows))
    per_epoch = math.ceil(len(rows) / batch)
    steps = max(config.curve_min_steps, per_epoch)
    args = training.training_arguments(
        out / "checkpoints",
        train_size=len(rows),
        batch_size=batch,
        epochs=steps / per_epoch,
        learning_rate=run.settings["learning_rate"],
        warmup_ratio=run.settings["warmup_ratio"],
        weight_decay=run.settings["weight_decay"],
        seed=seed,
        max_steps=steps,
        bf16=run.bf16,
        group_by_length=run.settings["group_by_length"],
        fused_adamw=run.settings["fused_adamw"],
        evaluate=False,
        save_steps=steps + 1,  # no checkpoint: the point is measured, not kept
    )
    ids = run.tokenizer([train.texts[r] for r in rows], truncation=True, max_length=run.max_length)[
        "input_ids"
    ]
    # the recipe's model (fresh head) and collator, in a Trainer sized for the subset
    trainer = training.AtomicTrainer(
        model=run.trainer.model,
        args=args,
        train_dataset=[
            {"input_ids": x, "labels": train.labels[r]} for x, r in zip(ids, rows, strict=True)
        ],
        data_collator=run.trainer.data_collator,
    )
    set_seed(seed)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    test = run.splits["test"]
    scored = _test_scored(
        trainer.model,
        run.tokenizer,
        run.eval_ids["test"],
        list(test.labels or []),
        len(train.label_names),
        seconds,
    )
    return FinetuneRow(scored, str(out), trainer.state.global_step, round(steps / per_epoch, 3))
