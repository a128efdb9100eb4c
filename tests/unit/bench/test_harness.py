"""bench/harness.py: warm-up with memory, interleaved rounds keeping the best, latency."""

from __future__ import annotations

from plmkit.bench.harness import Engine, enter, race, request_latency


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


def test_request_latency_times_each_request():
    seen: list = []
    engine = Engine("e", lambda: None, single=seen.append)
    latency = request_latency(engine, [["x"], ["y"], ["z"]])
    assert seen == [["x"], ["y"], ["z"]]
    assert set(latency) == {"p50_ms", "p95_ms"} and latency["p95_ms"] >= latency["p50_ms"] >= 0
    assert request_latency(Engine("no single", lambda: None), [["x"]]) == {}
