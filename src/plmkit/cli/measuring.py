"""`plm bench`: plmkit against the plain Hugging Face way, measured in the same run (step 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plmkit.cli.base import MEASURE, JsonOpt, command, echo_json


@command("bench", MEASURE)
def bench_cmd(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="encode, classify, generate, train, coldstart or all (default); or serve "
            "alone: the HTTP server's load test on loopback (bench/serve_load.py)"
        ),
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
    save: Annotated[
        Path | None,
        typer.Option(
            help="write the JSON report to this file after every scenario (a stopped run "
            "keeps what it measured; `complete` says whether it finished)"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Throughput, latency, TTFT and memory of the Hugging Face baselines and plmkit."""
    if scenarios and "serve" in scenarios:
        _bench_serve(scenarios, quick, encoder, classifier, decoder, as_json)
        return
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
    report = run_bench(
        scenarios or ["all"], options, on_progress=lambda m: typer.echo(m, err=True), save=save
    )
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_bench_report(report))


def _bench_serve(
    scenarios: list[str],
    quick: bool,
    encoder: str,
    classifier: str | None,
    decoder: str,
    as_json: bool,
) -> None:
    from plmkit.bench.workload import bench_classifier
    from plmkit.errors import InvalidInputError
    from plmkit.serve.load_test import (
        LoadOptions,
        format_load_report,
        quick_options,
        run_load_test,
    )

    if scenarios != ["serve"]:
        raise InvalidInputError(
            "serve is a load test of its own and runs alone", "run plm bench serve by itself"
        )
    classifier = classifier or str(bench_classifier(encoder))
    options = LoadOptions(encoder=encoder, generator=decoder, classifier=classifier)
    options = quick_options(options) if quick else options
    report = run_load_test(options, progress=lambda m: typer.echo(m, err=True))
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_load_report(report))
