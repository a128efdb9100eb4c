"""`plm paradigms`: every way of using the pre-trained models on one labelled data set, in
one table (`plmkit.recipes.paradigms`)."""

from __future__ import annotations

import json

import typer

from plmkit.cli.base import PRETRAIN, JsonOpt, command, echo_json
from plmkit.cli.options import Flag, config_options
from plmkit.recipes.paradigms import ParadigmsConfig

COLUMNS = (
    ("paradigm", 40, "{}"),
    ("model", 20, "{}"),
    ("train", 6, "{}"),
    ("accuracy", 14, "{}"),
    ("macro-F1", 14, "{}"),
    ("train s", 8, "{:.1f}"),
    ("ex/s", 8, "{:.1f}"),
    ("params", 8, "{}"),
)


def _spread(row: dict, key: str) -> str:
    value = f"{row[key]:.4f}"
    return value + (f" ±{row[key + '_std']:.3f}" if row.get(key + "_std") else "")


def table(record: dict) -> list[str]:
    """The rows, then the learning curve, as aligned text lines."""
    header = "".join(f"{name:<{width}}" for name, width, _ in COLUMNS)
    lines = [header]
    for row in record["rows"]:
        cells = (
            row["paradigm"],
            row["model"],
            row["train_examples"],
            _spread(row, "accuracy"),
            _spread(row, "macro_f1"),
            f"{row['train_seconds']:.1f}",
            f"{row['examples_per_second']:.1f}",
            f"{row['parameters'] / 1e6:.1f}M",
        )
        lines.append("".join(f"{str(c):<{w}}" for c, (_, w, _) in zip(cells, COLUMNS, strict=True)))
    lines.append("")
    lines.append("learning curve (test accuracy, mean ± spread over seeds):")
    for point in record["curve"]:
        seeds = point.get("seeds", 1)
        lines.append(
            f"  {point['paradigm']:<12} {point['size']:>9} ({point['train_examples']:>5} examples, "
            f"{seeds} seed{'s' if seeds > 1 else ''}): {_spread(point, 'accuracy')}"
        )
    return lines


@command("paradigms", PRETRAIN)
@config_options(ParadigmsConfig, flags={"quick": Flag(("--quick",))})
def paradigms_cmd(as_json: JsonOpt = False, *, config: ParadigmsConfig) -> None:
    """Zero-/few-shot decoder, embedding similarity, linear head, SetFit, fine-tuned and
    from-scratch encoders and a learning curve, on one split; writes paradigms.json/.png."""
    from plmkit.recipes.paradigms import run_paradigms

    def progress(event: object) -> None:
        typer.echo(f"[paradigms] {getattr(event, 'text', event)}", err=True)

    result = run_paradigms(config, on_event=None if as_json else progress)
    if as_json:
        echo_json(json.loads(result.path.read_text()))
        return
    record = result.record
    typer.echo(
        f"{config.data}, seed {config.seed}: {record['data']['sizes']} "
        f"in {record['wall_seconds']:.0f} s"
    )
    for line in table(record):
        typer.echo(line)
    typer.echo(f"wrote {result.path} and {result.plot}")
