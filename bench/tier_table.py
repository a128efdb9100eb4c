"""The README's per-tier table, read from committed `plm bench all --json` results (so the
README's figures are the JSON's): one column per CPU, a row per scenario with the baseline,
the engine `auto` picked and the fastest engine that was timed, each with its ratio.

    .venv/bin/python bench/tier_table.py bench/results/bench_all_epyc_zen3.json \
        bench/results/bench_all_xeon_amx.json bench/results/bench_all_epyc_zen5_fresh.json
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCENARIOS = {
    "encode": "encode (MiniLM), texts/s",
    "classify": "classify (fine-tuned MiniLM), texts/s",
    "generate": "generate (smollm2), tok/s",
    "train": "fine-tune step, samples/s",
}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _engine(row: dict) -> str:
    name = row["name"].removeprefix("plmkit ").split(" (")[0].split(",")[0]
    return (
        name.replace("encode --backend ", "")
        .replace("generate --backend ", "")
        .replace("--backend ", "")
    )


def cell(scenario: dict, batch: bool = False) -> str:
    rows = [
        r
        for r in scenario["rows"]
        if r["ratio"] is not None and ("at once" in r["name"]) == batch and not r["baseline"]
    ]
    base = next(r for r in scenario["rows"] if r["baseline"])
    if batch:
        base = {"name": "single stream", "throughput": rows[0]["throughput"] / rows[0]["ratio"]}
    picked = next((r for r in rows if "auto picks this" in r["note"]), None)
    if picked is None:  # train: what `plm finetune` runs by default
        picked = next((r for r in rows if r["name"].startswith("default (")), None)
    best = max(rows, key=lambda r: r["ratio"])
    text = f"{_fmt(base['throughput'])} -> "
    if picked is not None:
        text += "`auto` " * ("auto picks" in picked["note"])
        text += f"{_engine(picked)} {_fmt(picked['throughput'])} ({picked['ratio']:.2f}x)"
    if best is not picked:
        text += ("; " if picked else "") + (
            f"best {_engine(best)} {_fmt(best['throughput'])} ({best['ratio']:.2f}x)"
        )
    return text


def coldstart(scenario: dict) -> str:
    """The cached starts: the median of three (older files: the one second run)."""
    seconds = {
        r["name"].replace("(second run)", "(cached)").replace(", median of 3", ""): r["ttft_ms"]
        for r in scenario["rows"]
    }
    return ", ".join(
        f"{what} {seconds[f'plm {what} (cached)'] / 1000:.2f} s" for what in ("encode", "generate")
    )


def column(path: Path) -> dict[str, str]:
    report = json.loads(path.read_text())
    scenarios = report["scenarios"]
    date = subprocess.run(
        ["git", "log", "-1", "--format=%ad", "--date=short", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    hardware = report["hardware"]
    model = hardware["generation"] or hardware["model"].replace(
        "Intel(R) Xeon(R) Processor", "Xeon"
    )
    if "amx_bf16" in hardware["flags"]:
        model += " with AMX"
    column = {
        "cpu": f"{model} ({hardware['torch_capability']}, "
        f"{'native bf16' if hardware['native_bf16'] else 'no native bf16'}), {date or 'new'}",
    }
    for name, label in SCENARIOS.items():
        if name in scenarios:
            column[label] = cell(scenarios[name])
    if "generate" in scenarios:
        column["8 prompts at once, tok/s"] = cell(scenarios["generate"], batch=True)
    if "coldstart" in scenarios:
        column["cold start (cached: second run, or median of 3)"] = coldstart(
            scenarios["coldstart"]
        )
    column["`plm bench all`, fresh cache"] = f"{report['seconds']:.0f} s" + (
        "" if report.get("complete", True) else " (incomplete)"
    )
    column["source"] = f"`{path.as_posix()}`"
    return column


def main(paths: list[str]) -> None:
    columns = [column(Path(p)) for p in paths]
    print("| | " + " | ".join(c["cpu"] for c in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    labels = [k for k in columns[0] if k != "cpu"]
    for label in labels:
        print(f"| {label} | " + " | ".join(c.get(label, "-") for c in columns) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
