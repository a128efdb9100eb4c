"""How `auto` times its encoder candidates: each checked once, then all timed in turns."""

from __future__ import annotations

import time

from plmkit.backends.base import EncoderBackend

TIMED_ROUNDS = (3, 8)
"""Rounds over the calibration batches per candidate, fewest and most: more until each took
TIMED_SECONDS. Two rounds of the 64 built-in sentences (0.2 s) once ranked onnx-int8 (296
texts/s) level with onnx-fp32 (298) on a Zen 3 where the bench then timed them at 390 and
255."""
TIMED_SECONDS = 1.0
TIMED_BATCHES = 4
"""Batches of 32 timed per round, at most (spread over the length-sorted ones)."""


def outputs_of(backend: EncoderBackend, batches: list[dict]) -> list:
    backend.forward(batches[0]["input_ids"], batches[0]["attention_mask"])  # warm-up
    return [backend.forward(b["input_ids"], b["attention_mask"]) for b in batches]


def timed_in_turns(backends: dict[str, EncoderBackend], batches: list[dict]) -> dict[str, float]:
    """Each backend's best seconds for one pass over `batches`, timed in turns (one pass of
    each, then again), so that a slow spell of the machine falls on all of them alike. In
    one block each, right after its load, a bench run on a Zen 3 timed onnx-int8-partial at
    277 texts/s against onnx-fp32's 316; in turns, in a fresh process: 380-462 against
    264-327."""
    best = dict.fromkeys(backends, float("inf"))
    spent = dict.fromkeys(backends, 0.0)
    fewest, most = TIMED_ROUNDS
    for round_ in range(most):
        if round_ >= fewest and all(spent[n] >= TIMED_SECONDS for n in backends):
            break
        for name, backend in backends.items():
            start = time.perf_counter()
            for b in batches:
                backend.forward(b["input_ids"], b["attention_mask"])
            seconds = time.perf_counter() - start
            best[name], spent[name] = min(best[name], seconds), spent[name] + seconds
    return best
