"""What the CLI prints for the typed progress events of long work, and the summaries after it.

Recipes never print: they send events to a callback; these functions are the CLI's callbacks.
"""

from __future__ import annotations

from pathlib import Path

import typer

from plmkit.cli.step_progress import StepPrinter
from plmkit.training.events import (
    CheckpointSaved,
    CompareArm,
    DataSplits,
    Evaluation,
    Event,
    HeldOutScores,
    ReportWritten,
    Setup,
    Stage,
    TrainEnd,
    TrainLog,
    TrainStart,
    TrainStep,
    WorldSetup,
)

STEPS = StepPrinter()
"""The training progress bar / periodic lines of the command running now."""


def step_event(event: Event) -> bool:
    """Feed the step printer; True when the event was a step (nothing else to print)."""
    if isinstance(event, TrainStart):
        STEPS.start()
    elif isinstance(event, TrainEnd):
        STEPS.stop()
    elif isinstance(event, TrainStep):
        STEPS.step(event)
        return True
    return False


def finetune_event(event: Event) -> None:
    """One stderr line per fine-tuning stage, logged step, evaluation and checkpoint."""
    if step_event(event):
        return
    if isinstance(event, DataSplits):
        sizes = ", ".join(
            f"{k} {event.sizes[k]}" for k in ("train", "validation", "test") if k in event.sizes
        )
        typer.echo(f"data: {sizes}; labels {event.labels}", err=True)
    elif isinstance(event, Setup):
        p = event.padding
        typer.echo(
            f"{event.model}, recipe {event.recipe}: {event.dtype}; max_length "
            f"{event.max_length}; padding {p['padding_share']:.1%} of "
            f"{p['padded_tokens']} tokens (padding all to {p['fixed_length']}: "
            f"{p['fixed_length_padding_share']:.1%}; waste avoided {p['waste_avoided']:.1%})",
            err=True,
        )
    elif isinstance(event, WorldSetup):
        world_event(event)
    elif isinstance(event, TrainLog):
        typer.echo(
            f"  step {event.step}/{event.max_steps}  epoch {event.epoch:.2f}  "
            f"loss {event.loss:.4f}  {event.samples_per_second} samples/s",
            err=True,
        )
    elif isinstance(event, Evaluation) and "accuracy" in event.metrics:
        typer.echo(
            f"  validation @ epoch {event.epoch:.2f}: accuracy {event.metrics['accuracy']:.4f}  "
            f"macro-F1 {event.metrics['macro_f1']:.4f}",
            err=True,
        )
    elif isinstance(event, TrainEnd):
        typer.echo(
            f"  trained {event.step} steps in {event.wall_seconds} s: "
            f"{event.samples_per_second} samples/s",
            err=True,
        )
    elif isinstance(event, ReportWritten):
        report_event(event)


def report_event(event: ReportWritten) -> None:
    """Where the run's report.html went, or why it was not written."""
    if event.path is not None:
        typer.echo(f"report: {event.path}", err=True)
    else:
        typer.echo(f"report not written ({event.error}); plm report RUN_DIR retries", err=True)


def world_event(event: WorldSetup) -> None:
    """The processes a training runs on and its global batch (1 process included)."""
    from plmkit.training.distributed import describe

    typer.echo(f"  {describe(dict(event.record))}", err=True)


def compare_event(event: Event) -> None:
    """A header line before each arm of `plm compare`, then that arm's fine-tuning lines."""
    if isinstance(event, CompareArm):
        typer.echo(f"[{event.index}/{event.of}] fine-tuning {event.model}", err=True)
    else:
        finetune_event(event)


def pretrain_event(event: Event) -> None:
    """One stderr line per pre-training stage, logged step, checkpoint and summary."""
    if step_event(event):
        return
    if isinstance(event, Stage):
        typer.echo(f"[{event.stage}]", err=True)
    elif isinstance(event, HeldOutScores):
        scores = event.scores
        shown = {k: scores[k] for k in ("loss", "accuracy", "perplexity") if k in scores}
        typer.echo("  " + ", ".join(f"held-out {k} {v:.4g}" for k, v in shown.items()), err=True)
    elif isinstance(event, WorldSetup):
        world_event(event)
    elif isinstance(event, TrainLog):
        typer.echo(
            f"  step {event.step}/{event.max_steps}  loss {event.loss:.4f}  "
            f"lr {event.learning_rate or 0:.2e}  {event.samples_per_second} blocks/s",
            err=True,
        )
    elif isinstance(event, CheckpointSaved):
        typer.echo(f"  checkpoint {event.checkpoint}", err=True)
    elif isinstance(event, TrainEnd):
        typer.echo(f"  trained {event.step} steps, {event.tokens_per_second} tokens/s", err=True)


def pretrain_summary(objective: str, results: dict, out: Path) -> None:
    before, after = results["before"], results["after"]
    rows = [("held-out loss", before["loss"], after["loss"])]
    if objective == "clm":
        rows.append(("held-out perplexity", before["perplexity"], after["perplexity"]))
    else:
        rows.append(("masked-token accuracy", before["accuracy"], after["accuracy"]))
        rows.append(
            ("  on [MASK] tokens", before["mask_token_accuracy"], after["mask_token_accuracy"])
        )
        if "pseudo_perplexity" in after:
            rows.append(
                (
                    "pseudo-perplexity",
                    before["pseudo_perplexity"]["pseudo_perplexity"],
                    after["pseudo_perplexity"]["pseudo_perplexity"],
                )
            )
    typer.echo(f"{'':24} {'before':>10} {'after':>10}")
    for name, first, last in rows:
        typer.echo(f"{name:24} {first:>10.4g} {last:>10.4g}")
    if objective == "mlm":
        m = results["masking_during_training"]
        typer.echo(
            f"masking during training: {m['picked_fraction']:.1%} of tokens picked; of those "
            f"{m['mask_fraction']:.1%} [MASK], {m['random_fraction']:.1%} random, "
            f"{m['kept_fraction']:.1%} kept"
        )
    corpus, train = results["corpus"], results["training"]
    typer.echo(
        f"corpus: {corpus['train_documents']} documents -> {corpus['train_blocks']} blocks of "
        f"{corpus['block_size']} (no padding); held out: {corpus['held_out_from']}"
    )
    typer.echo(
        f"training: {train['steps']} steps, {train['tokens_per_second']} tokens/s, "
        f"{results['dtype']}; {results['wall_seconds']} s in all"
    )
    for probe in results.get("probes", []):
        if objective == "mlm":
            typer.echo(f"fill-mask {probe['text']!r}: {', '.join(probe['top'])}")
        else:
            typer.echo(f"generate {probe['prompt']!r}: {probe['continuation']!r}")
    typer.echo(f"saved to {out} (results in {out / 'plmkit.json'})")
