"""backends/timing.py: `auto`'s candidates timed in turns, at least the fewest rounds."""

from __future__ import annotations

import numpy as np

from plmkit.backends import timing


class _Fake:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def forward(self, input_ids, attention_mask):
        self.calls.append(self.name)
        return input_ids


def test_candidates_are_timed_in_turns(monkeypatch):
    monkeypatch.setattr(timing, "TIMED_SECONDS", 0.0)  # the fewest rounds suffice
    calls: list[str] = []
    batch = {"input_ids": np.zeros((1, 2)), "attention_mask": np.ones((1, 2))}
    backends = {n: _Fake(n, calls) for n in ("a", "b")}
    best = timing.timed_in_turns(backends, [batch, batch])
    fewest, _ = timing.TIMED_ROUNDS
    assert calls == ["a", "a", "b", "b"] * fewest  # a whole pass each, in turns
    assert set(best) == {"a", "b"} and all(0 <= s < 1 for s in best.values())


def test_outputs_after_a_warm_up():
    calls: list[str] = []
    batches = [{"input_ids": np.full((1, 2), i), "attention_mask": np.ones((1, 2))} for i in (1, 2)]
    outputs = timing.outputs_of(_Fake("a", calls), batches)
    assert len(calls) == 3 and [o[0, 0] for o in outputs] == [1, 2]
