"""Start here: `plm demo` (the reference walkthrough), `plm models`, `plm doctor`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plmkit.cli import console
from plmkit.cli.base import START, JsonOpt, command, echo_json


@command("demo", START)
def demo_cmd(
    encoder: Annotated[str, typer.Option(help="encoder for parts 2 and 4")] = "minilm",
    decoder: Annotated[str, typer.Option(help="decoder for part 3")] = "smollm2",
    finetune_steps: Annotated[
        int, typer.Option(help="optimizer steps for part 4's fine-tune (0 skips it)")
    ] = 150,
    out: Annotated[str, typer.Option(help="where part 4 saves its classifier")] = (
        "runs/demo-sentiment"
    ),
) -> None:
    """The reference walkthrough end to end on the embedded models."""
    from plmkit.demo import run_demo

    def stream(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    run_demo(
        typer.echo,
        encoder=encoder,
        decoder=decoder,
        stream=stream,
        finetune_steps=finetune_steps,
        out_dir=out,
        on_event=console.finetune_event,
    )


@command("models", START)
def models_cmd(as_json: JsonOpt = False) -> None:
    """List the model aliases and well-known hub ids, and whether each works offline."""
    from plmkit.doctor import model_status
    from plmkit.registry import EMBEDDED

    status = model_status()
    if as_json:
        echo_json(status)
        return
    for alias, spec in EMBEDDED.items():
        typer.echo(f"{alias:10} {spec.kind:8} {status[alias]:28} {spec.description}")
    for name, state in status.items():
        if name not in EMBEDDED:
            typer.echo(f"{name:26} {state}")


@command("doctor", START)
def doctor_cmd(as_json: JsonOpt = False) -> None:
    """Versions, offline models, caches, CPU instruction sets and the defaults they imply."""
    from plmkit.doctor import doctor

    report = doctor()
    if as_json:
        echo_json(report)
        return
    typer.echo(f"python {report['python']} on {report['platform']}")
    for section in ("packages", "models", "backends", "cache", "defaults"):
        typer.echo(f"{section}:")
        for key, value in report[section].items():
            typer.echo(f"  {key:24} {value}")
    cpu = report["cpu"]
    typer.echo(
        f"cpu: {cpu['model']} {cpu['generation']} ({cpu['cores']} cores, "
        f"torch threads {cpu['threads']}, "
        f"torch kernels {cpu['torch_capability']})"
    )
    typer.echo("  " + " ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu["flags"].items()))
    typer.echo(
        f"  busy with other processes: {report['cpu_busy_elsewhere']} cores; "
        f"OMP_WAIT_POLICY {report['omp_wait_policy']}"
    )
    chat = report["chat"]
    typer.echo(f"chat ({chat['model']}, --backend auto): {chat['engine'] or '-'}")
    for reason in chat["why"]:
        typer.echo(f"  {reason}")
    for note in report["notes"]:
        typer.echo(f"note: {note}")
