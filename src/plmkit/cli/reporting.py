"""`plm report`: rebuild a run's report.html from its files, or put two runs side by side."""

from __future__ import annotations

from typing import Annotated

import typer

from plmkit.cli.base import PRETRAIN, command


@command("report", PRETRAIN)
def report_cmd(
    run_dirs: Annotated[
        list[str], typer.Argument(help="RUN_DIR (plm finetune / pretrain / compare --out), or two")
    ],
    out: Annotated[
        str | None,
        typer.Option(help="output file (default RUN_DIR/report.html; two runs: report-ab.html)"),
    ] = None,
    attribution: Annotated[
        bool, typer.Option(help="token-attribution heat maps of the top errors (fine-tuning)")
    ] = True,
) -> None:
    """Write a run's self-contained report.html (curves, confusion, calibration, errors,
    attribution; pre-training before / after), or RUN_A RUN_B side by side."""
    from plmkit.errors import InvalidInputError
    from plmkit.report import write_report, write_side_by_side

    if len(run_dirs) > 2:
        raise InvalidInputError(f"{len(run_dirs)} run directories given", "pass one or two")
    if len(run_dirs) == 1:
        path = write_report(run_dirs[0], out, explain=attribution)
    else:
        path = write_side_by_side(run_dirs, out or "report-ab.html")
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
