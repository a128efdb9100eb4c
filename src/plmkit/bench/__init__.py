"""`plm bench`: the plain Hugging Face baselines and plmkit's backends, same inputs, same run.

    report = run_bench(["encode"], BenchOptions(quick=True))
    print(format_bench_report(report))

Scenarios are looked up by name in `SCENARIOS` ("module:function" strings, imported only
when run: one module per scenario), so another module can add one without touching this
file: `SCENARIOS["mine"] = "mypackage.bench_mine:scenario"`; the function takes
`BenchOptions` and returns a list of `Row`.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable

from plmkit.bench.measure import Row
from plmkit.bench.options import BenchOptions
from plmkit.errors import InvalidInputError

__all__ = ["SCENARIOS", "BenchOptions", "Row", "format_bench_report", "run_bench"]

SCENARIOS: dict[str, str] = {
    "encode": "plmkit.bench.encode:scenario",
    "classify": "plmkit.bench.classify:scenario",
    "generate": "plmkit.bench.generate:scenario",
    "train": "plmkit.bench.train:scenario",
    "pretrain": "plmkit.bench.pretrain:scenario",
    "coldstart": "plmkit.bench.coldstart:scenario",
}


def _scenario(name: str) -> Callable[[BenchOptions], list[Row]]:
    module, _, function = SCENARIOS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def expand(names: list[str]) -> list[str]:
    """['all'] -> every scenario; unknown names raise with the list."""
    wanted = list(SCENARIOS) if not names or "all" in names else names
    unknown = [n for n in wanted if n not in SCENARIOS]
    if unknown:
        raise InvalidInputError(
            f"unknown benchmark '{unknown[0]}'", f"use all or one of: {', '.join(SCENARIOS)}"
        )
    return wanted


def _fill_ratios(rows: list[Row]) -> None:
    by_name = {row.name: row for row in rows}
    for row in rows:
        if row.ratio is None and row.vs in by_name and by_name[row.vs].throughput > 0:
            row.ratio = row.throughput / by_name[row.vs].throughput


def run_bench(
    names: list[str],
    options: BenchOptions,
    on_progress: Callable[[str], None] | None = None,
    save: str | os.PathLike | None = None,
) -> dict:
    """Run the named scenarios; returns header (hardware, versions, limits) and rows.

    With `save`, the report so far is written there (atomically) after every scenario, with
    `"complete": false` until the last one: a run that is stopped or crashes keeps what it
    measured.
    """
    from plmkit import hardware
    from plmkit.bench import machine
    from plmkit.bench.limits import raise_limits

    say = on_progress or (lambda _: None)
    busy_before = hardware.busy_cores(0.5)
    wanted = expand(names)
    start = time.perf_counter()
    say("measuring machine limits")
    options.limits = machine.limits(quick=options.quick)
    report: dict = {
        "hardware": machine.hardware(),
        "versions": machine.versions(),
        "limits": options.limits,
        "options": {k: v for k, v in vars(options).items() if k not in ("limits", "limit_samples")},
        "scenarios": {},
        "skipped": {},  # scenario -> why it did not run (kept: the results' format)
    }
    report["complete"] = False
    _save(save, report, start)
    later: list[dict[str, float]] = []  # limits measured again, after the scenarios
    options.limit_samples.clear()  # and after the race rounds (`harness.sample_limits`)
    for name in wanted:
        function = _scenario(name)
        say(f"running {name}")
        began = time.perf_counter()
        rows = function(options)
        _fill_ratios(rows)
        report["scenarios"][name] = {
            "seconds": round(time.perf_counter() - began, 1),
            "rows": [row.to_dict() for row in rows],
        }
        _save(save, report, start)
        if any(r.limit_from for r in rows):  # a quick sample of the limits after each
            later.append(machine.limits(quick=True))
    if later or options.limit_samples:
        say("measuring machine limits again")
        final = machine.limits(quick=options.quick)
        raise_limits(report, [*options.limit_samples, *later, final])
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["load"] = {
        "busy_cores_elsewhere_before": busy_before,
        "busy_cores_elsewhere_after": hardware.busy_cores(0.5),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    report["complete"] = True
    _save(save, report, start)
    return report


def _save(path: str | os.PathLike | None, report: dict, start: float) -> None:
    if path is None:
        return
    from plmkit.paths import write_json_atomic

    if not report.get("complete"):
        report["seconds"] = round(time.perf_counter() - start, 1)  # so far
    write_json_atomic(path, report)


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_bench_report(report: dict) -> str:
    """The report as a plain-text table (the README shows one)."""
    hw, limits = report["hardware"], report["limits"]
    lines = [
        f"machine: {hw['model']}{' (' + hw['generation'] + ')' if hw.get('generation') else ''}, "
        f"{hw['cores']} cores, torch threads {hw['threads']}, "
        f"kernels {hw['torch_capability']}, native bf16 {'yes' if hw['native_bf16'] else 'no'}, "
        f"int8 dot {'yes' if hw['int8_dot'] else 'no'}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "limits:   " + ", ".join(f"{k} {v}" for k, v in limits.items()),
    ]
    load = report.get("load")
    if load:
        lines.append(
            f"load:     other processes kept {load['busy_cores_elsewhere_before']} cores busy "
            f"before the run and {load['busy_cores_elsewhere_after']} after it; "
            f"OMP_WAIT_POLICY {load['omp_wait_policy']}"
        )
    lines.append("")
    header = (
        f"{'engine':58} {'throughput':>17} {'p50 ms':>8} {'p95 ms':>8} {'TTFT ms':>8} "
        f"{'peak MB':>8} {'x base':>7} {'of limit':>8}  quality / note"
    )
    for name, scenario in report["scenarios"].items():
        lines += [f"== {name} ({scenario['seconds']} s)", header]
        for row in scenario["rows"]:
            ratio = "base" if row["baseline"] else _cell(row["ratio"], ".2f")
            limit = "-" if row["of_limit"] is None else f"{row['of_limit'] * 100:.0f}%"
            extra = "; ".join(x for x in (row["quality"], row["note"]) if x)
            lines.append(
                f"{row['name'][:58]:58} {row['throughput']:>9.1f} {row['unit']:>7} "
                f"{_cell(row['p50_ms'], '.1f'):>8} {_cell(row['p95_ms'], '.1f'):>8} "
                f"{_cell(row['ttft_ms'], '.0f'):>8} {_cell(row['peak_mem_mb'], '.0f'):>8} "
                f"{ratio:>7} {limit:>8}  {extra}"
            )
        lines.append("")
    for name, why in report["skipped"].items():
        lines.append(f"{name}: skipped ({why})")
    lines.append(f"total {report['seconds']} s")
    return "\n".join(lines)
