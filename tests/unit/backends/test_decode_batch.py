"""decode_batch on every decoder: tokens streamed per row as they come, each row's own
budget, and a row stopped by its callback while the others go on (the same greedy tokens as
alone on fp32 engines)."""

from __future__ import annotations

import pytest

from plmkit import backends
from plmkit.backends import Sampling, registry


@pytest.mark.parametrize("name", ["torch-fp32", "ct2-int8", "llama-cpp"])
def test_rows_stream_stop_and_keep_their_budgets(name, tiny_llama_gguf_dir, prompt_of):
    if registry.missing(name):
        pytest.skip(registry.missing(name))
    engine = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), name)
    assert engine.batches
    prompts = [
        prompt_of(tiny_llama_gguf_dir),
        prompt_of(tiny_llama_gguf_dir, "the best film ever"),
        prompt_of(tiny_llama_gguf_dir, "a"),
    ]
    limits = [8, 3, 6]
    alone = [list(engine.stream(p, n, Sampling())) for p, n in zip(prompts, limits, strict=True)]
    seen: list[list[int]] = [[], [], []]
    order: list[int] = []

    def on_token(row: int, token: int) -> bool:
        seen[row].append(token)
        order.append(row)
        return row == 0 and len(seen[0]) == 2  # row 0's client leaves after 2 tokens

    engine.decode_batch(prompts, limits, Sampling(), on_token)
    assert [len(row) for row in seen] == [2, len(alone[1]), len(alone[2])]
    if name != "ct2-int8":  # int8 activations are quantised per batch: near-ties may differ
        assert seen == [alone[0][:2], alone[1], alone[2]]
    assert order[:3] != [0, 0, 0] or len(set(order)) == 1  # rows interleave, step by step
