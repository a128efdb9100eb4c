"""backends/timing.py: `auto`'s candidates timed in turns, at least the fewest rounds."""

from __future__ import annotations

import threading

import numpy as np

from plmkit.backends import timing


class _Pad:
    """The one tokenizer method `map_padded` calls: right padding with 0."""

    def pad(self, encoded, return_tensors="np"):
        rows = encoded["input_ids"]
        width = max(len(r) for r in rows)
        return {
            "input_ids": np.array([list(r) + [0] * (width - len(r)) for r in rows]),
            "attention_mask": np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        }


class _Fake:
    concurrency, run_rows = 1, 0

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def forward(self, input_ids, attention_mask):
        self.calls.append(self.name)
        return input_ids


def test_candidates_are_timed_in_turns(monkeypatch):
    monkeypatch.setattr(timing, "TIMED_SECONDS", 0.0)  # the fewest rounds suffice
    calls: list[str] = []
    texts = [[1, 2]] * (2 * timing.TIMED_BATCH_SIZE)  # two batches
    backends = {n: _Fake(n, calls) for n in ("a", "b")}
    best = timing.timed_in_turns(backends, _Pad(), texts)
    fewest, _ = timing.TIMED_ROUNDS
    assert calls == ["a", "a", "b", "b"] * fewest  # a whole pass each, in turns
    assert set(best) == {"a", "b"} and all(0 <= s < 1 for s in best.values())


def test_outputs_after_a_warm_up():
    calls: list[str] = []
    batches = [{"input_ids": np.full((1, 2), i), "attention_mask": np.ones((1, 2))} for i in (1, 2)]
    outputs = timing.outputs_of(_Fake("a", calls), batches)
    assert len(calls) == 3 and [o[0, 0] for o in outputs] == [1, 2]


class _Concurrent(_Fake):
    """An engine that runs batches of at most 2 rows, two at once (as ONNX does with 8)."""

    concurrency, run_rows = 2, 2

    def __init__(self) -> None:
        super().__init__("c", [])
        self.shapes: list[tuple] = []
        self.barrier = threading.Barrier(2, timeout=5)

    def forward_alone(self, input_ids, attention_mask):
        self.barrier.wait()  # fails unless two pieces run at once
        self.shapes.append((input_ids.shape, attention_mask.shape))
        return input_ids


def test_an_engine_that_runs_batches_at_once_is_timed_that_way():
    # 4 texts: two of 3 tokens, two of 1, each run padded to its own longest
    engine = _Concurrent()
    timing.run_as_planned(engine, _Pad(), [[5, 6, 7], [8], [9, 10, 11], [12]])
    assert engine.calls == []  # never the split-the-batch `forward`
    assert sorted(engine.shapes) == [((2, 1), (2, 1)), ((2, 3), (2, 3))]  # no extra padding
