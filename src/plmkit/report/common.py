"""Sections every run's report has: the run (model, seed, config, versions, hardware), the
training curves from the Trainer's log history, and throughput / wall time."""

from __future__ import annotations

from typing import Any

from plmkit.report import plots
from plmkit.report.page import Page, figure, figures, kv_table, note, pre_json


def run_section(page: Page, record: dict[str, Any]) -> None:
    model = record.get("model", {})
    rows = [
        ("task", page.num(record, "task")),
        ("model", page.num(record, "model.name")),
        ("model source", page.num(record, "model.source")),
        ("seed", page.num(record, "seed")),
        ("dtype", page.num(record, "dtype")),
        ("why that dtype", page.num(record, "dtype_reason")),
        ("created", page.num(record, "created")),
        ("data hash", page.num(record, "data_hash")),
    ]
    if "recipe" in record:
        rows.insert(2, ("recipe", page.num(record, "recipe")))
    if model.get("revision"):
        rows.append(("model revision", page.num(record, "model.revision")))
    hardware = [
        ("CPU", page.num(record, "hardware.cpu.model")),
        ("generation", page.num(record, "hardware.cpu.generation")),
        (
            "cores / threads",
            f"{page.num(record, 'hardware.cpu.cores')} / "
            f"{page.num(record, 'hardware.cpu.threads')}",
        ),
        ("vector units", page.num(record, "hardware.cpu.torch_capability")),
        ("native bf16", page.num(record, "hardware.cpu.native_bf16")),
        ("torch threads", page.num(record, "hardware.torch_threads")),
        ("GPU", page.num(record, "hardware.cuda")),
    ]
    versions = [(name, page.num(record, f"versions.{name}")) for name in record.get("versions", {})]
    page.section(
        "Run",
        '<div class="cols"><div>',
        kv_table(rows),
        "<h3>Hardware</h3>",
        kv_table(hardware),
        "</div><div><h3>Versions</h3>",
        kv_table(versions),
        "</div></div>",
        "<h3>Configuration</h3>",
        pre_json({"config": record.get("config"), "settings": record.get("settings")}),
    )


def history_series(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """The Trainer's log history as series: training loss and learning rate per step,
    evaluation figures per step / epoch."""
    train = [e for e in log_history if "loss" in e and "step" in e]
    evals = [e for e in log_history if any(k.startswith("eval_") for k in e)]
    metrics = sorted(
        {
            k
            for e in evals
            for k, v in e.items()
            if k.startswith("eval_")
            and isinstance(v, int | float)
            and not k.endswith(("runtime", "per_second"))
        }
    )
    return {
        "loss": ([e["step"] for e in train], [e["loss"] for e in train]),
        "learning_rate": (
            [e["step"] for e in train if "learning_rate" in e],
            [e["learning_rate"] for e in train if "learning_rate" in e],
        ),
        "eval": {
            m.removeprefix("eval_"): (
                [e["step"] for e in evals if m in e],
                [e[m] for e in evals if m in e],
            )
            for m in metrics
        },
        "eval_epochs": [e.get("epoch") for e in evals],
    }


def curves_section(page: Page, log_history: list[dict[str, Any]]) -> None:
    series = history_series(log_history)
    evals = series["eval"]
    losses = {"training loss": series["loss"]}
    losses.update({f"validation {k}": v for k, v in evals.items() if "loss" in k})
    scores = {f"validation {k}": v for k, v in evals.items() if "loss" not in k}
    epochs = [e for e in series["eval_epochs"] if e is not None]
    caption = (
        f"validation at epochs {', '.join(f'{e:g}' for e in epochs)}" if epochs else "no validation"
    )
    page.section(
        "Training curves",
        figures(
            figure(plots.lines(losses, "step", "loss", "Loss"), "loss per logged step"),
            figure(plots.lines(scores, "step", "score", "Validation"), caption),
            figure(
                plots.lines(
                    {"learning rate": series["learning_rate"]},
                    "step",
                    "learning rate",
                    "Learning-rate schedule",
                ),
                "learning rate per logged step (warmup, then linear decay)",
            ),
        ),
        note(
            f"{len(series['loss'][0])} logged training steps and {len(epochs)} evaluations from "
            "the Trainer's log history (plmkit.json: training.log_history)."
        ),
    )


def throughput_rows(page: Page, record: dict[str, Any], keys: list[tuple[str, str]]) -> str:
    """Name / tagged value rows for the keys of `record` that exist."""
    rows = []
    for name, key in keys:
        value = page.num(record, key)
        if value != "-":
            rows.append((name, value))
    return kv_table(rows)
