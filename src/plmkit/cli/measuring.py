"""`plm bench`: plmkit against the plain Hugging Face way, measured in the same run (step 6)."""

from __future__ import annotations

from typing import Annotated

import typer

from plmkit.cli.base import MEASURE, JsonOpt, command, echo_json


@command("bench", MEASURE)
def bench_cmd(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(help="encode, classify, generate, train, coldstart or all (default)"),
    ] = None,
    quick: Annotated[bool, typer.Option(help="small counts: a smoke run, not numbers")] = False,
    encoder: Annotated[str, typer.Option(help="encoder for encode")] = "minilm",
    classifier: Annotated[
        str | None, typer.Option(help="fine-tuned classifier dir (default: made once)")
    ] = None,
    decoder: Annotated[str, typer.Option(help="decoder for generate")] = "smollm2",
    texts: Annotated[int | None, typer.Option(help="sentences (default 1000)")] = None,
    new_tokens: Annotated[int | None, typer.Option(help="tokens per generation")] = None,
    all_engines: Annotated[
        bool, typer.Option(help="time every engine, even one a short probe shows far slower")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Throughput, latency, TTFT and memory of the Hugging Face baselines and plmkit."""
    from plmkit.bench import BenchOptions, format_bench_report, run_bench

    options = BenchOptions(
        quick=quick,
        encoder=encoder,
        classifier=classifier,
        decoder=decoder,
        texts=texts,
        new_tokens=new_tokens,
        all_engines=all_engines,
    )
    report = run_bench(scenarios or ["all"], options, on_progress=lambda m: typer.echo(m, err=True))
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_bench_report(report))
