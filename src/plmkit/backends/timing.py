"""How `auto` times its encoder candidates: each checked once, then all timed in turns, each
run the way the pipelines will run it (`base.batch_plan`)."""

from __future__ import annotations

import time
from typing import Any

from plmkit.backends.base import EncoderBackend, batch_plan
from plmkit.batching import map_padded

TIMED_ROUNDS = (3, 8)
"""Rounds over the calibration batches per candidate, fewest and most: more until each took
TIMED_SECONDS. Two rounds of the 64 built-in sentences (0.2 s) once ranked onnx-int8 (296
texts/s) level with onnx-fp32 (298) on a Zen 3 where the bench then timed them at 390 and
255."""
TIMED_SECONDS = 1.0
TIMED_BATCHES = 4
"""Batches of TIMED_BATCH_SIZE timed per round, at most (spread over the length-sorted ones)."""
TIMED_BATCH_SIZE = 32
"""The pipelines' default batch size (`plm encode`, `plm predict`)."""


def outputs_of(backend: EncoderBackend, batches: list[dict]) -> list:
    backend.forward(batches[0]["input_ids"], batches[0]["attention_mask"])  # warm-up
    return [backend.forward(b["input_ids"], b["attention_mask"]) for b in batches]


def run_as_planned(backend: EncoderBackend, tokenizer: Any, ids: list[list[int]]) -> None:
    """One pass over the token-id lists `ids` as `encode` and `classify` run many texts
    through `backend` (`batch_plan` and `batching.map_padded`, padding included): batches of
    TIMED_BATCH_SIZE through `forward`, or, for an engine that runs several at once, batches
    of its `run_rows` on `concurrency` threads. Timing `forward` alone timed the ONNX engines
    on split batches of 32, which the pipelines no longer run."""
    rows, workers, run = batch_plan(backend, TIMED_BATCH_SIZE)
    map_padded(tokenizer, ids, rows, lambda batch, x, mask: run(x, mask), workers=workers)


def timed_in_turns(
    backends: dict[str, EncoderBackend], tokenizer: Any, ids: list[list[int]]
) -> dict[str, float]:
    """Each backend's best seconds for one pass over the texts `ids` (`run_as_planned`), timed in
    turns (one pass of each, then again), so that a slow spell of the machine falls on all
    of them alike. In one block each, right after its load, a bench run on a Zen 3 timed
    onnx-int8-partial at 277 texts/s against onnx-fp32's 316; in turns, in a fresh process:
    380-462 against 264-327."""
    best = dict.fromkeys(backends, float("inf"))
    spent = dict.fromkeys(backends, 0.0)
    fewest, most = TIMED_ROUNDS
    for round_ in range(most):
        if round_ >= fewest and all(spent[n] >= TIMED_SECONDS for n in backends):
            break
        for name, backend in backends.items():
            start = time.perf_counter()
            run_as_planned(backend, tokenizer, ids)
            seconds = time.perf_counter() - start
            best[name], spent[name] = min(best[name], seconds), spent[name] + seconds
    return best
