"""bench/harness.py: warm-up with memory, interleaved rounds keeping the best, latency."""

from __future__ import annotations

from plmkit.bench.harness import Engine, SlowProbe, enter, probe_rate, race, request_latency


def test_race_interleaves_and_keeps_the_best_round():
    calls: list[str] = []
    engines: list[Engine] = []
    for name in "abc":
        enter(engines, lambda name=name: Engine(name, lambda name=name: calls.append(name)))
    assert calls == ["a", "b", "c"]  # one warm-up run each, in order
    assert all(e.memory_mb >= 0 and e.best_seconds == float("inf") for e in engines)
    calls.clear()
    race(engines, 3)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # start rotates
    assert all(0 < e.best_seconds < 1 for e in engines)


def test_a_short_warm_up_and_memory_from_the_first_whole_round():
    """With `warm`, the warm-up runs the slice instead of the workload, and the peak memory
    also covers the first whole (timed) round: what it held plus that round's peak."""
    calls: list[str] = []
    held: list[bytearray] = []

    def run() -> None:
        calls.append("run")
        if not held:
            held.append(bytearray(64 * 2**20))  # 64 MB, touched, kept: the whole run's memory
            held[0][::4096] = b"x" * len(held[0][::4096])

    engines: list[Engine] = []
    enter(engines, lambda: Engine("e", run, warm=lambda: calls.append("warm")))
    (engine,) = engines
    assert calls == ["warm"] and engine.memory_mb < 32
    race(engines, 2)
    assert calls == ["warm", "run", "run"]
    assert engine.memory_mb > 48


def test_request_latency_times_each_request():
    seen: list = []
    engine = Engine("e", lambda: None, single=seen.append)
    latency = request_latency(engine, [["x"], ["y"], ["z"]])
    assert seen == [["x"], ["y"], ["z"]]
    assert set(latency) == {"p50_ms", "p95_ms"} and latency["p95_ms"] >= latency["p50_ms"] >= 0
    assert request_latency(Engine("no single", lambda: None), [["x"]]) == {}


def _probed(name: str, rate: float, runs: list[str], probes: list[str]) -> Engine:
    def probe() -> float:
        probes.append(name)
        return rate

    return Engine(name, lambda: runs.append(name), probe=probe)


def test_slow_probe_skips_a_far_slower_engine_untimed():
    runs: list[str] = []
    probes: list[str] = []
    slow = SlowProbe("encode", "texts/s")
    engines: list[Engine] = []
    speeds = {"torch-fp32": 100.0, "torch-bf16": 19.0, "onnx-int8": 180.0, "torch-int8": 51.0}
    for name, rate in speeds.items():
        entered = enter(engines, lambda n=name, r=rate: _probed(n, r, runs, probes), slow, name)
        assert (entered is None) == (name == "torch-bf16")
    assert probes == list(speeds)
    assert runs == ["torch-fp32", "onnx-int8", "torch-int8"]  # bf16 never ran its workload
    assert [e.name for e in engines] == runs
    (row,) = slow.skipped
    assert (row.scenario, row.name, row.throughput, row.unit) == (
        "encode",
        "torch-bf16",
        19.0,
        "texts/s",
    )
    assert row.note == (
        "skipped, not timed: a short probe ran at 19.0 texts/s, 0.19x torch-fp32's 100.0 "
        "on the same slice (--all-engines times it)"
    )


def test_all_engines_probes_nothing_and_keeps_everything():
    runs: list[str] = []
    probes: list[str] = []
    slow = SlowProbe("encode", "texts/s", all_engines=True)
    engines: list[Engine] = []
    for name, rate in {"torch-fp32": 100.0, "torch-bf16": 1.0}.items():
        enter(engines, lambda n=name, r=rate: _probed(n, r, runs, probes), slow, name)
    assert probes == [] and runs == ["torch-fp32", "torch-bf16"] and slow.skipped == []


def test_probe_rate_warms_up_then_times_once():
    calls: list[int] = []
    rate = probe_rate(lambda: calls.append(1), 32)
    assert calls == [1, 1] and rate > 0


def test_a_slow_engine_sits_out_the_rounds_after_its_budget(monkeypatch):
    """After MIN_ROUNDS (2), an engine whose rounds took the budget is not timed again."""
    import plmkit.bench.harness as harness

    seconds = {"fast": 1.0, "slow": 30.0, "middling": 12.0, "ten": 10.0}
    monkeypatch.setattr(harness, "timed", lambda run: (run(), seconds[run()]))
    engines = [Engine(name, lambda name=name: name) for name in seconds]
    race(engines, 3, budget_s=20.0)
    rounds = {e.name: e.rounds_run for e in engines}
    assert rounds == {"fast": 3, "slow": 2, "middling": 2, "ten": 2}
    assert {e.name: e.round_seconds for e in engines} == {  # each timed round, in order
        name: [seconds[name]] * rounds[name] for name in seconds
    }
    assert {e.name: e.best_seconds for e in engines} == seconds
    baseline = Engine("slow", lambda: "slow", baseline=True)  # every round, however slow
    race([baseline], 3, budget_s=20.0)
    assert baseline.rounds_run == 3


def test_between_runs_after_each_round():
    calls: list[str] = []
    engines: list[Engine] = []
    for name in "ab":
        enter(engines, lambda name=name: Engine(name, lambda name=name: calls.append(name)))
    calls.clear()
    race(engines, 2, between=lambda: calls.append("|"))
    assert calls == ["a", "b", "|", "b", "a", "|"]


def test_limits_sampled_in_the_rounds_raise_the_rows_limits(monkeypatch):
    """A limit sampled between race rounds counts like one sampled between scenarios: the
    highest of all is each row's ceiling (an engine cannot run above what the machine did)."""
    from plmkit.bench import BenchOptions, run_bench
    from plmkit.bench import machine as machine_module
    from plmkit.bench.harness import sample_limits
    from plmkit.bench.measure import Row

    samples = iter([10.0, 30.0, 10.0, 10.0])  # start, in the race, after it, the final

    def limits(quick=False):
        return {"matmul_fp32_gflops": next(samples)}

    def scenario(options):
        race([Engine("e", lambda: None)], 1, between=sample_limits(options))
        row = Row("encode", "e", 20.0, "texts/s", limit=10.0, limit_from="matmul_fp32_gflops")
        return [row]

    monkeypatch.setattr(machine_module, "limits", limits)
    monkeypatch.setattr("plmkit.bench._scenario", lambda name: scenario)
    report = run_bench(["encode"], BenchOptions(quick=True))
    assert report["limits"]["matmul_fp32_gflops"] == 30.0
    (row,) = report["scenarios"]["encode"]["rows"]
    assert row["limit"] == 30.0 and row["of_limit"] == round(20 / 30, 3)
    assert "limit_samples" not in report["options"]


def test_slow_probe_always_times_autos_pick_unprobed():
    """`auto`'s engine is the row a user gets: timed even where its probe would skip it."""
    runs: list[str] = []
    probes: list[str] = []
    slow = SlowProbe("generate", "tokens/s", reference="one stream", reference_rate=80.0)
    slow.picks = ("llama-cpp-bf16",)
    engines: list[Engine] = []
    for name, rate in {"llama-cpp-bf16": 33.0, "torch-bf16": 30.0}.items():
        enter(engines, lambda n=name, r=rate: _probed(n, r, runs, probes), slow, name)
    assert runs == ["llama-cpp-bf16"] and probes == ["llama-cpp-bf16", "torch-bf16"]
    assert [row.name for row in slow.skipped] == ["torch-bf16"]


def test_slow_probe_times_every_pick_of_auto():
    """The single streams keep `auto`'s batch engine as well as its stream engine: a batch row
    is made only for engines whose stream was timed (a tiny model's bench once lost the
    row of `auto`'s batch pick, torch-bf16, whose stream the probe had skipped)."""
    runs: list[str] = []
    probes: list[str] = []
    slow = SlowProbe("generate", "tokens/s", reference="one stream", reference_rate=80.0)
    slow.picks = ("llama-cpp-bf16", "torch-bf16")
    engines: list[Engine] = []
    rates = {"llama-cpp-bf16": 33.0, "torch-bf16": 30.0, "ct2-int8": 20.0}
    for name, rate in rates.items():
        enter(engines, lambda n=name, r=rate: _probed(n, r, runs, probes), slow, name)
    assert runs == ["llama-cpp-bf16", "torch-bf16"]
    assert [row.name for row in slow.skipped] == ["ct2-int8"]
