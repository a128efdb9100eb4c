"""The instruct decoder as a classifier without training: zero-shot and few-shot, each label
scored by its log-likelihood as the answer (`pipelines.label_scoring`)."""

from __future__ import annotations

import time

from plmkit.data import TextDataset
from plmkit.pipelines.label_scoring import LabelScorer
from plmkit.recipes.paradigms.encoder_rows import Scored, scored


def decoder_row(
    decoder: str,
    test: TextDataset,
    examples: list[tuple[str, str]],
    template: str,
) -> tuple[Scored, dict]:
    """(the row, what the prompt cost: shared prompt tokens, mean tokens per text)."""
    started = time.perf_counter()
    scorer = LabelScorer(decoder, test.label_names, template=template, examples=examples)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    result = scorer.score(test.texts)
    seconds = time.perf_counter() - started
    row = scored(
        list(test.labels or []),
        result.predictions,
        len(test.label_names),
        train_seconds=0.0,
        infer_seconds=seconds,
        parameters=scorer.parameters(),
    )
    prompt = {
        "shots": len(examples),
        "shared_prompt_tokens": result.prompt_tokens,
        "mean_tokens_per_text": round(result.mean_tokens, 1),
        "forward_calls": result.forward_calls,
        "load_seconds": round(setup, 2),
    }
    return row, prompt
