"""llama.cpp's batched decode: the tokens prompts share are decoded once, and sharing them
changes no token (the same greedy tokens as each prompt alone)."""

from __future__ import annotations

import pytest

from plmkit import backends
from plmkit.backends import Sampling
from plmkit.backends.llama_batch import kv_unified, shared_prefix


@pytest.mark.parametrize(
    ("prompts", "want"),
    [
        ([[1, 2, 3]], 0),  # one prompt: nothing to share
        ([[1, 2, 3], [4, 2, 3]], 0),
        ([[1, 2, 3, 4], [1, 2, 5]], 2),
        ([[1, 2, 3], [1, 2, 3]], 2),  # the same prompt: each keeps its last token
        ([[1, 2, 3], [1, 2, 3, 4, 5]], 2),  # a prompt inside another one
        ([[1], [1]], 0),
    ],
)
def test_shared_prefix(prompts, want):
    assert shared_prefix(prompts) == want


def test_shared_tokens_are_decoded_once_and_change_nothing(
    tiny_llama_gguf_dir, prompt_of, monkeypatch
):
    from llama_cpp._internals import LlamaContext

    engine = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    opening = prompt_of(tiny_llama_gguf_dir, "once upon a time there was a film")
    prompts = [opening, opening, opening + prompt_of(tiny_llama_gguf_dir, "the best")[1:]]
    alone = [list(engine.stream(p, 6, Sampling())) for p in prompts]
    decoded: list[int] = []
    decode = LlamaContext.decode

    def counted(self, batch):
        decoded.append(batch.batch.n_tokens)
        return decode(self, batch)

    monkeypatch.setattr(LlamaContext, "decode", counted)
    assert engine.generate_batch(prompts, 6, Sampling()) == alone
    shared = len(opening) - 1
    remainders = 1 + 1 + len(prompts[2]) - shared
    assert decoded[:2] == [shared, remainders]  # then one token per live row and step


@pytest.mark.parametrize(
    ("needs", "unified"),
    [([50], True), ([40, 45, 50], False), ([10, 10, 100], True), ([10] * 7 + [20], False)],
)
def test_a_kv_cache_per_sequence_unless_lengths_are_very_uneven(needs, unified):
    assert kv_unified(needs) == unified


@pytest.mark.parametrize("uneven", [0.0, 1e9], ids=["one cache", "a cache per sequence"])
def test_both_kv_layouts_give_each_prompts_tokens_alone(
    tiny_llama_gguf_dir, prompt_of, monkeypatch, capfd, uneven
):
    """One KV cache for all sequences or one each (with the shared opening copied whole):
    the same greedy tokens as each prompt alone, and no llama.cpp warning on stderr (it
    warned of an n_ctx not split into whole 256-cell blocks per sequence)."""
    from llama_cpp._internals import LlamaContext

    from plmkit.backends import llama_batch

    engine = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    opening = prompt_of(tiny_llama_gguf_dir, "once upon a time there was a film")
    prompts = [opening + prompt_of(tiny_llama_gguf_dir, w)[1:] for w in ("the best", "a", "no")]
    alone = [list(engine.stream(p, 6, Sampling())) for p in prompts]
    layouts = []
    init = LlamaContext.__init__

    def noted(self, *args, params, **kwargs):
        layouts.append(params.kv_unified)
        init(self, *args, params=params, **kwargs)

    monkeypatch.setattr(llama_batch, "UNEVEN", uneven)
    monkeypatch.setattr(LlamaContext, "__init__", noted)
    capfd.readouterr()
    assert engine.generate_batch(prompts, 6, Sampling()) == alone
    assert layouts == [uneven == 0.0]
    assert "not divisible" not in capfd.readouterr().err
