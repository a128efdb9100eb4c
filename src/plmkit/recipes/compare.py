"""The pre-training / fine-tuning paradigm, measured: fine-tune several starting points the
same way and put the results side by side.

    compare_finetuning(["minilm", "runs/mlm", "runs/bert-scratch"], data="movie-snippets")

Every arm runs `finetune_classifier.finetune` with the same data, seed (hence the same
train / validation / test split and the same head initialisation), recipe and overrides; only
the starting model differs. A starting model made by `plm pretrain` on the same data is
checked for leakage: its held-out rows must be this split's validation + test rows (the same
seed), otherwise it was pre-trained on texts the comparison tests on and the run stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plmkit.config import FinetuneConfig
from plmkit.errors import InvalidInputError
from plmkit.paths import RESULTS_FILE, read_json, write_json_atomic
from plmkit.recipes.finetune_classifier import finetune
from plmkit.registry import resolve
from plmkit.training import run_record
from plmkit.training.events import CompareArm, OnEvent, ignore
from plmkit.validation import require_texts


@dataclass
class Arm:
    model: str
    out: Path
    origin: str
    """How the starting model came to be: shipped, continued pre-training, from scratch."""
    test: dict[str, float]
    validation: dict[str, float]
    train_seconds: float
    pretraining: dict[str, Any] | None = None
    """Before / after figures of `plm pretrain`, when the model came from it."""


@dataclass
class Comparison:
    data: str
    seed: int
    arms: list[Arm] = field(default_factory=list)
    path: Path | None = None
    """Where the comparison JSON was written."""


def _pretrain_record(model: str) -> dict[str, Any] | None:
    """The results JSON of `plm pretrain` in a model directory, if it came from there."""
    spec = resolve(model)
    if spec.source != "local":
        return None
    record = read_json(Path(spec.locator) / RESULTS_FILE)
    return record if str(record.get("task", "")).startswith("pretrain-") else None


def _origin(model: str, record: dict[str, Any] | None) -> str:
    if record is None:
        return "as given" if resolve(model).source == "local" else "as shipped"
    config, steps = record["config"], record["training"]["steps"]
    if config.get("from_scratch"):
        return f"from scratch: {record['model']['name']}, {steps} {record['task']} steps"
    return f"{config.get('model')} + {steps} steps of continued {record['task']}"


def _check_no_leak(model: str, record: dict[str, Any] | None, data: str, seed: int) -> None:
    if record is None or record["config"].get("data") != data:
        return
    config = record["config"]
    if not config.get("label_column") or config.get("seed") != seed:
        raise InvalidInputError(
            f"{model} was pre-trained on {data} holding out other rows than this comparison "
            f"tests on (pre-training seed {config.get('seed')}, comparison seed {seed}), so it "
            "has seen test texts",
            f"pass --seed {config.get('seed')}, or pre-train again with --seed {seed}",
        )


def _slug(model: str, index: int) -> str:
    return f"{index}-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.") or "model")


def compare_finetuning(
    models: list[str],
    *,
    data: str = "movie-snippets",
    out: str | Path = "runs/compare",
    seed: int = 42,
    on_event: OnEvent | None = None,
    report: bool = True,
    **finetune_options: Any,
) -> Comparison:
    """Fine-tune each of `models` identically and compare; writes `out/compare.json`.

    `finetune_options` are `FinetuneConfig` fields (recipe, epochs, max_steps, ...) applied
    to every arm. `on_event` gets a `CompareArm` event before each arm, then that arm's
    fine-tuning events. With `report`, each arm writes its report.html and `out/report.html`
    puts the arms side by side (`ReportWritten` events).
    """
    emit = on_event or ignore
    models = require_texts(models, "model")
    if len(set(models)) < len(models):
        raise InvalidInputError("the same model is given twice", "pass each --model once")
    records = {model: _pretrain_record(model) for model in models}
    for model in models:
        _check_no_leak(model, records[model], data, seed)
    configs = [
        FinetuneConfig(
            model=model,
            data=data,
            out=str(Path(out) / _slug(model, i)),
            seed=seed,
            **finetune_options,
        ).validate()
        for i, model in enumerate(models, 1)
    ]
    comparison = Comparison(data=data, seed=seed)
    for index, config in enumerate(configs, 1):
        emit(CompareArm(model=config.model, index=index, of=len(configs)))
        result = finetune(config, on_event=on_event, report=report)
        metrics, record = result.metrics, records[config.model]
        comparison.arms.append(
            Arm(
                model=config.model,
                out=result.out,
                origin=_origin(config.model, record),
                test={k: metrics["test"][k] for k in ("accuracy", "macro_f1")},
                validation={k: metrics["validation"][k] for k in ("accuracy", "macro_f1")},
                train_seconds=result.record["training"]["seconds"],
                pretraining=None
                if record is None
                else {"before": record["before"], "after": record["after"]},
            )
        )
    comparison.path = write_json_atomic(
        Path(out) / "compare.json",
        run_record(
            seed=seed,
            task="compare-finetuning",
            data=data,
            finetune_options=finetune_options,
            arms=[{**arm.__dict__, "out": str(arm.out)} for arm in comparison.arms],
        ),
    )
    if report:
        from plmkit.recipes.run_files import write_run_report

        write_run_report(out, emit)
    return comparison
