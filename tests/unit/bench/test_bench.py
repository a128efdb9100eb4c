"""plmkit.bench: scenario names, the report run_bench builds, and its text table."""

from __future__ import annotations

import json

import pytest

from plmkit import bench
from plmkit.bench import BenchOptions, Row, format_bench_report, run_bench
from plmkit.errors import InvalidInputError

LIMITS = {"memory_bandwidth_gbs": 10.0, "matmul_fp32_gflops": 50.0}


@pytest.fixture(autouse=True)
def measured_machine(monkeypatch):
    """Fixed machine limits: the report's plumbing is under test here, not the CPU."""
    monkeypatch.setattr("plmkit.bench.machine.limits", lambda quick=False: dict(LIMITS))


def toy_scenario(options: BenchOptions) -> list[Row]:
    return [
        Row("toy", "slow way", 10.0, "things/s", baseline=True, quality="reference"),
        Row("toy", "fast way", 40.0, "things/s", vs="slow way", limit=80.0, p50_ms=1.5),
    ]


def test_expand_names_all_and_rejects_unknown():
    with pytest.raises(InvalidInputError, match="unknown benchmark 'speed'"):
        bench.expand(["encode", "speed"])
    assert bench.expand(["all"]) == bench.expand([]) == list(bench.SCENARIOS)
    assert bench.expand(["generate", "encode"]) == ["generate", "encode"]


def test_every_scenario_resolves_to_a_function():
    for name in bench.SCENARIOS:
        assert callable(bench._scenario(name)), name


def test_a_scenario_whose_module_is_missing_raises(monkeypatch):
    monkeypatch.setitem(bench.SCENARIOS, "toy", "plmkit.bench.not_there:scenario")
    with pytest.raises(ModuleNotFoundError):
        run_bench(["toy"], BenchOptions(quick=True))


def test_run_bench_report_fills_ratios_and_limits(monkeypatch):
    monkeypatch.setitem(bench.SCENARIOS, "toy", f"{__name__}:toy_scenario")
    progress: list[str] = []
    options = BenchOptions(quick=True, encoder="enc")
    report = run_bench(["toy"], options, on_progress=progress.append)
    assert progress == ["measuring machine limits", "running toy"]
    assert set(report) == {
        "hardware", "versions", "limits", "options", "scenarios", "skipped", "seconds", "load",
        "complete",
    }  # fmt: skip
    assert report["complete"] is True
    assert report["limits"] == LIMITS and options.limits == LIMITS
    assert report["options"]["encoder"] == "enc" and "limits" not in report["options"]
    base, fast = report["scenarios"]["toy"]["rows"]
    assert base["ratio"] is None and base["baseline"]
    assert fast["ratio"] == pytest.approx(4.0)
    assert fast["of_limit"] == pytest.approx(0.5)
    assert set(report["load"]) == {
        "busy_cores_elsewhere_before", "busy_cores_elsewhere_after", "omp_wait_policy"
    }  # fmt: skip


def broken_scenario(options: BenchOptions) -> list[Row]:
    raise RuntimeError("engine crashed")


def test_save_keeps_the_scenarios_done_before_a_crash(monkeypatch, tmp_path):
    monkeypatch.setitem(bench.SCENARIOS, "toy", f"{__name__}:toy_scenario")
    monkeypatch.setitem(bench.SCENARIOS, "broken", f"{__name__}:broken_scenario")
    saved = tmp_path / "bench.json"
    with pytest.raises(RuntimeError, match="engine crashed"):
        run_bench(["toy", "broken"], BenchOptions(quick=True), save=saved)
    partial = json.loads(saved.read_text())
    assert partial["complete"] is False and list(partial["scenarios"]) == ["toy"]
    assert [row["name"] for row in partial["scenarios"]["toy"]["rows"]] == ["slow way", "fast way"]
    report = run_bench(["toy"], BenchOptions(quick=True), save=saved)
    assert json.loads(saved.read_text())["complete"] is True
    assert json.loads(saved.read_text())["scenarios"] == report["scenarios"]


def test_format_bench_report_table(monkeypatch):
    monkeypatch.setitem(bench.SCENARIOS, "toy", f"{__name__}:toy_scenario")
    report = run_bench(["toy"], BenchOptions(quick=True))
    lines = format_bench_report(report).splitlines()
    assert lines[0].startswith("machine: ") and lines[1].startswith("versions: python ")
    assert lines[2] == "limits:   memory_bandwidth_gbs 10.0, matmul_fp32_gflops 50.0"
    start = lines.index(f"== toy ({report['scenarios']['toy']['seconds']} s)")
    assert lines[start + 1].split()[:3] == ["engine", "throughput", "p50"]
    slow, fast = lines[start + 2].split(), lines[start + 3].split()
    assert slow == ["slow", "way", "10.0", "things/s", "-", "-", "-", "-", "base", "-", "reference"]
    assert fast == ["fast", "way", "40.0", "things/s", "1.5", "-", "-", "-", "4.00", "50%"]
    assert lines[-1] == f"total {report['seconds']} s"


def test_options_counts():
    full = BenchOptions()
    assert (full.n_texts, full.n_tokens, full.n_latency, full.rounds) == (1000, 128, 48, 3)
    quick = BenchOptions(quick=True)
    assert (quick.n_texts, quick.n_tokens, quick.n_latency, quick.rounds) == (48, 8, 8, 1)
    assert BenchOptions(quick=True, texts=5, new_tokens=3).n_texts == 5
