"""backends/timing.py: `auto`'s candidates timed in turns, at least the fewest rounds."""

from __future__ import annotations

import threading

import numpy as np

from plmkit.backends import timing


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
    # a right-padded batch of 4: rows 0-1 have 3 tokens, rows 2-3 only 1
    mask = np.array([[1, 1, 1], [1, 1, 1], [1, 0, 0], [1, 0, 0]])
    batch = {"input_ids": np.arange(12).reshape(4, 3), "attention_mask": mask}
    engine = _Concurrent()
    timing.run_as_planned(engine, [batch])
    assert engine.calls == []  # never the split-the-batch `forward`
    assert sorted(engine.shapes) == [((2, 1), (2, 1)), ((2, 3), (2, 3))]  # padding trimmed


def test_left_padding_is_trimmed_from_the_left():
    mask = np.array([[0, 0, 1], [0, 1, 1]])
    pieces = list(
        timing._pieces([{"input_ids": np.arange(6).reshape(2, 3), "attention_mask": mask}], 2)
    )
    ((ids, kept),) = pieces
    assert ids.tolist() == [[1, 2], [4, 5]] and kept.tolist() == [[0, 1], [1, 1]]
