"""`plm bench coldstart` through the CLI: fresh `plm` processes on tiny models, the first run
and the median of the cached ones."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


def test_bench_coldstart_cli_rows(tiny_bert_dir, tiny_llama_dir, tmp_path, monkeypatch):
    from plmkit.cli import app

    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))  # the child processes' too
    monkeypatch.setattr("plmkit.bench.machine.limits", lambda quick=False: {})
    arguments = ["bench", "coldstart", "--quick", "--json"]
    arguments += ["--encoder", str(tiny_bert_dir), "--decoder", str(tiny_llama_dir)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert list(report["scenarios"]) == ["coldstart"]
    rows = report["scenarios"]["coldstart"]["rows"]
    assert [r["name"] for r in rows] == [
        "plm encode (first run)",
        "plm encode (cached, median of 3)",
        "plm generate (first run)",
        "plm generate (cached, median of 3)",
    ]
    for row in rows:
        runs = [] if "first" in row["name"] else row["note"].removeprefix("runs ")[:-2].split(", ")
        assert row["quality"] == "ok" and len(runs) == (0 if "first" in row["name"] else 3), row
        if runs:  # the median of the three runs shown
            # sorted as numbers: as strings "10.02" comes before "9.33"
            assert sorted(map(float, runs))[1] == pytest.approx(row["ttft_ms"] / 1000, abs=0.006)
        assert row["scenario"] == "coldstart" and row["unit"] == "runs/s"
        assert row["ttft_ms"] > 100  # a whole python process
        # throughput is rounded to 3 decimals in the report: a slow (loaded) run is 0.025 for 0.0253
        assert row["throughput"] == pytest.approx(1000 / row["ttft_ms"], rel=0.01, abs=5e-4)


def test_a_failing_command_is_reported(monkeypatch):
    from plmkit.bench import coldstart
    from plmkit.bench.options import BenchOptions

    monkeypatch.setattr(coldstart, "plm_command", lambda: ["false"])
    rows = [row.to_dict() for row in coldstart.scenario(BenchOptions())]
    assert len(rows) == 4 and all(r["quality"] == "exit 1" and r["note"] == "" for r in rows)
    assert all(r["ttft_ms"] > 0 for r in rows)


def test_missing_bytecode_is_noted(monkeypatch):
    """Without plmkit's .pyc files every start compiles it: the rows say so."""
    from plmkit.bench import coldstart
    from plmkit.bench.options import BenchOptions

    monkeypatch.setattr(coldstart, "plm_command", lambda: ["true"])
    monkeypatch.setattr(coldstart, "bytecode_missing", lambda: True)
    rows = [row.to_dict() for row in coldstart.scenario(BenchOptions())]
    assert all(r["quality"] == "ok" and "make bytecode" in r["note"] for r in rows)
