"""`run_paradigms`: every way of using the pre-trained models, on one split, in one table.

Cheap rows first (embeddings, linear head, similarity, the decoder), then SetFit, then the
fine-tuning runs; `paradigms.json` is rewritten after each step, so an interrupted run keeps
what it measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plmkit.data import TextDataset, load_dataset_splits
from plmkit.data.splits import stratified_order, subset
from plmkit.paths import write_json_atomic
from plmkit.recipes.paradigms import encoder_rows as enc
from plmkit.recipes.paradigms.decoder_rows import decoder_row
from plmkit.recipes.paradigms.finetune_rows import curve_point, full_finetune, random_init_dir
from plmkit.recipes.paradigms.plot import plot_paradigms
from plmkit.recipes.paradigms.settings import (
    ParadigmsConfig,
    check_classes,
    is_small,
    per_class_rows,
    shot_examples,
    subset_rows,
)
from plmkit.report import write_report
from plmkit.report.paradigms import PARADIGMS_FILE, PARADIGMS_PLOT
from plmkit.training import run_record

RESULTS = PARADIGMS_FILE
PLOT = PARADIGMS_PLOT
QUICK = dict(decoder_test_size=60, setfit_steps=10, curve_min_steps=20, finetune_max_steps=60)


@dataclass
class Progress:
    """What the run is doing now (the CLI prints it)."""

    text: str


@dataclass
class ParadigmsResult:
    record: dict[str, Any]
    path: Path
    plot: Path | None


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _row(paradigm: str, model: str, train_examples: int, scored: enc.Scored, **extra: Any) -> dict:
    return {
        "paradigm": paradigm,
        "model": model,
        "train_examples": train_examples,
        **asdict(scored),
        **extra,
    }


def _mean_row(paradigm: str, model: str, points: list[dict], **extra: Any) -> dict:
    """One table row from several seeds: the means, with the spread of accuracy / F1."""
    row = {"paradigm": paradigm, "model": model, "train_examples": points[0]["train_examples"]}
    for key in ("accuracy", "macro_f1", "train_seconds", "examples_per_second"):
        values = [r[key] for r in points]
        row[key] = round(float(np.mean(values)), 4)
        if key in ("accuracy", "macro_f1"):
            row[key + "_std"] = round(float(np.std(values)), 4)
    row.update(
        parameters=points[0]["parameters"], n_test=points[0]["n_test"], seeds=len(points), **extra
    )
    return row


def _decoder_test(test: TextDataset, size: int, seed: int) -> TextDataset:
    if not size or size >= len(test):
        return test
    order = stratified_order(test.texts, list(test.labels or []), seed)
    return subset(test, sorted(order[:size]), "test")


def run_paradigms(
    config: ParadigmsConfig, on_event: Callable[[Any], None] | None = None
) -> ParadigmsResult:
    config.validate()
    emit = on_event or (lambda event: None)
    quick = QUICK if config.quick else {}
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loadavg_start = _loadavg()
    splits = load_dataset_splits(
        config.data,
        text_column=config.text_column,
        label_column=config.label_column,
        split=config.split,
        seed=config.seed,
    )
    train, test = splits["train"], splits["test"]
    check_classes(train)
    names, k = train.label_names, len(train.label_names)
    labels = list(train.labels or [])
    # bad input stops before anything is measured
    examples = shot_examples(train, config.shots, config.seed)
    sizes = config.curve_sizes
    for size in [*sizes, f"{config.setfit_shots}/class"]:
        subset_rows(train, size, config.seed)
    setfit_steps = quick.get("setfit_steps", config.setfit_steps)
    decoder_size = min(config.decoder_test_size or len(test), quick.get("decoder_test_size", 10**9))
    rows: list[dict] = []
    curve: list[dict] = []
    record: dict[str, Any] = {}
    path = out / RESULTS

    def save(stage: str) -> None:
        nonlocal record
        record = run_record(
            seed=config.seed,
            task="paradigms",
            config=asdict(config),
            labels=names,
            data={
                "source": config.data,
                "sizes": {n: len(s) for n, s in splits.items()},
                "hashes": {n: s.data_hash() for n, s in splits.items()},
            },
            rows=rows,
            curve=curve,
            stage=stage,
            wall_seconds=round(time.perf_counter() - started, 1),
            loadavg_start=loadavg_start,
            loadavg_now=_loadavg(),
            torch_threads=_torch_threads(),
            cpu_count=os.cpu_count(),
            quick=config.quick,
        )
        write_json_atomic(path, record)

    test_labels = list(test.labels or [])
    # --- the frozen pre-trained encoder: similarity, linear head --------------------------
    emit(Progress(f"embedding {len(train)} training and {len(test)} test texts ({config.encoder})"))
    encoder = enc.Encoder(config.encoder)
    t0 = time.perf_counter()
    train_emb = encoder.embed(train.texts)
    embed_train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_emb = encoder.embed(test.texts)
    embed_test_seconds = time.perf_counter() - t0
    sentences = [config.label_sentence.replace("{label}", name) for name in names]
    predictions, seconds = enc.cosine_zero_shot(encoder, test_emb, sentences)
    rows.append(
        _row(
            "embedding similarity, zero-shot",
            config.encoder,
            0,
            enc.scored(
                test_labels,
                predictions,
                k,
                train_seconds=0.0,
                infer_seconds=embed_test_seconds + seconds,
                parameters=encoder.parameters,
            ),
            label_sentences=sentences,
        )
    )

    def linear(rows_: list[int], seed: int) -> enc.Scored:
        t0 = time.perf_counter()
        head = enc.fit_linear_head(train_emb[rows_], [labels[r] for r in rows_], seed)
        fit = time.perf_counter() - t0
        share = len(rows_) / len(train)  # embedding the rows is part of training
        t0 = time.perf_counter()
        predicted = head.predict(test_emb).tolist()
        infer = time.perf_counter() - t0 + embed_test_seconds
        return enc.scored(
            test_labels,
            predicted,
            k,
            train_seconds=fit + share * embed_train_seconds,
            infer_seconds=infer,
            parameters=encoder.parameters + head.coef_.size + head.intercept_.size,
        )

    rows.append(
        _row(
            "frozen encoder + logistic regression",
            config.encoder,
            len(train),
            linear(list(range(len(train))), config.seed),
        )
    )
    for size in sizes:
        seeds = config.curve_seeds if is_small(size) else 1
        runs = []
        for s in range(seeds):
            rows_ = subset_rows(train, size, config.seed + s)
            runs.append(
                _row("linear head", config.encoder, len(rows_), linear(rows_, config.seed + s))
            )
        curve.append(_mean_row("linear head", config.encoder, runs, size=size, runs=runs))
    save("encoder")

    # --- the decoder, zero- and few-shot ---------------------------------------------------
    decoder_test = _decoder_test(test, decoder_size, config.seed)
    for shots, paradigm in (
        ([], "zero-shot decoder"),
        (examples, f"few-shot decoder (k={len(examples)})"),
    ):
        emit(Progress(f"{paradigm}: scoring {k} labels on {len(decoder_test)} test texts"))
        scored, prompt = decoder_row(config.decoder, decoder_test, shots, config.prompt_template)
        rows.append(_row(paradigm, config.decoder, len(shots), scored, prompt=prompt))
        save(paradigm)

    # --- SetFit ------------------------------------------------------------------------------
    def setfit(size: str, seed: int) -> dict:
        rows_ = subset_rows(train, size, seed)
        predicted, fit, infer, params = enc.setfit(
            config.encoder,
            [train.texts[r] for r in rows_],
            [labels[r] for r in rows_],
            test.texts,
            steps=setfit_steps,
            seed=seed,
        )
        return _row(
            "SetFit",
            config.encoder,
            len(rows_),
            enc.scored(
                test_labels, predicted, k, train_seconds=fit, infer_seconds=infer, parameters=params
            ),
        )

    setfit_size = f"{config.setfit_shots}/class"
    setfit_runs: dict[str, list[dict]] = {}
    for size in dict.fromkeys([setfit_size, *sizes]):
        seeds = config.curve_seeds if is_small(size) else 1
        emit(Progress(f"SetFit at {size}: {seeds} seed(s), {setfit_steps} steps of pairs"))
        setfit_runs[size] = [setfit(size, config.seed + s) for s in range(seeds)]
        if size in sizes:
            curve.append(
                _mean_row(
                    "SetFit", config.encoder, setfit_runs[size], size=size, runs=setfit_runs[size]
                )
            )
        if size == setfit_size:
            rows.append(
                _mean_row(
                    f"few-shot encoder, SetFit ({setfit_size})",
                    config.encoder,
                    setfit_runs[size],
                    contrastive_steps=setfit_steps,
                )
            )
        save(f"setfit {size}")

    # --- fine-tuning: every label, from scratch, the curve --------------------------------
    max_steps = quick.get("finetune_max_steps")
    emit(
        Progress(
            f"fine-tuning {config.encoder} on {len(train)} texts "
            f"({config.finetune_epochs} epoch(s)"
            + (f", at most {max_steps} steps)" if max_steps else ")")
        )
    )
    tuned = full_finetune(config, config.encoder, out / "finetuned", max_steps)
    full_row = _row(
        "fine-tuned encoder",
        config.encoder,
        len(train),
        tuned.scored,
        steps=tuned.steps,
        epochs=tuned.epochs,
    )
    rows.append(full_row)
    save("fine-tuned")
    emit(Progress("fine-tuning the same architecture from random weights"))
    scratch_init = random_init_dir(config.encoder, out / "scratch-init", config.seed)
    scratch = full_finetune(config, str(scratch_init), out / "scratch", max_steps)
    rows.append(
        _row(
            "encoder from scratch (random weights)",
            f"{config.encoder} architecture",
            len(train),
            scratch.scored,
            steps=scratch.steps,
            epochs=scratch.epochs,
        )
    )
    save("from scratch")
    for size in sizes:
        if size == "100%":  # the fine-tuned row is this point
            curve.append(
                _mean_row("fine-tuned", config.encoder, [full_row], size=size, runs=[full_row])
            )
            continue
        seeds = config.curve_seeds if is_small(size) else 1
        emit(Progress(f"fine-tuning at {size}: {seeds} seed(s)"))
        runs = []
        for s in range(seeds):
            rows_ = subset_rows(train, size, config.seed + s)
            point = curve_point(config, rows_, config.seed + s, out / "curve")
            runs.append(
                _row(
                    "fine-tuned",
                    config.encoder,
                    len(rows_),
                    point.scored,
                    steps=point.steps,
                    epochs=point.epochs,
                )
            )
        curve.append(_mean_row("fine-tuned", config.encoder, runs, size=size, runs=runs))
        save(f"fine-tuned {size}")

    save("done")
    plot = plot_paradigms(record, out / PLOT)
    write_report(out)  # out/report.html, its paradigms section from the two files above
    return ParadigmsResult(record=record, path=path, plot=plot)


__all__ = ["ParadigmsResult", "Progress", "per_class_rows", "run_paradigms"]
