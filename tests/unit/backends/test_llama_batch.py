"""llama.cpp's batched decode: the tokens prompts share are decoded once, a batch's context is
kept and its caches reused by the next batch's prompts, and neither changes a token (the same
greedy tokens as each prompt alone)."""

from __future__ import annotations

import pytest

from plmkit import backends
from plmkit.backends import Sampling
from plmkit.backends.llama_batch import assign_slots, common_prefix, kv_unified, shared_prefix


@pytest.fixture
def decode_sizes(monkeypatch):
    """decode_sizes() -> a list that then gets the tokens of every llama_decode, in order."""

    def start() -> list[int]:
        from llama_cpp._internals import LlamaContext

        sizes: list[int] = []
        decode = LlamaContext.decode

        def counted(self, batch):
            sizes.append(batch.batch.n_tokens)
            return decode(self, batch)

        monkeypatch.setattr(LlamaContext, "decode", counted)
        return sizes

    return start


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
    tiny_llama_gguf_dir, prompt_of, decode_sizes
):
    engine = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    opening = prompt_of(tiny_llama_gguf_dir, "once upon a time there was a film")
    prompts = [opening, opening, opening + prompt_of(tiny_llama_gguf_dir, "the best")[1:]]
    alone = [list(engine.stream(p, 6, Sampling())) for p in prompts]
    decoded = decode_sizes()
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


@pytest.mark.parametrize(
    ("prompts", "held", "want"),
    [
        ([[1, 2], [3, 4]], [[], []], [0, 1]),  # a fresh context: in order
        ([[1, 2], [3, 4]], [[3, 4, 9], [1, 2, 7]], [1, 0]),  # each to the cache holding it
        ([[1, 2, 3], [1, 2]], [[1, 2, 3, 4], [5]], [0, 1]),  # the longest reuse first
        ([[1, 2], [1, 2]], [[1, 2, 8], [1, 2, 9]], [0, 1]),  # ties: the lower numbers
        ([[5], [6]], [[1], [2], [3]], [0, 1]),  # nothing to reuse: the first free ones
    ],
)
def test_each_prompt_goes_to_the_sequence_holding_the_longest_start_of_it(prompts, held, want):
    assert assign_slots(prompts, held) == want
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2


def test_the_next_batch_reuses_what_the_kept_caches_hold(
    tiny_llama_gguf_dir, prompt_of, monkeypatch, decode_sizes
):
    """The same prompts again: each sequence decodes only its prompt's last token (for its
    logits); new prompts in another order reuse their starts; the tokens stay each prompt's
    alone. A batch of another shape opens a context of its own."""
    from llama_cpp._internals import LlamaContext

    engine = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    opening = prompt_of(tiny_llama_gguf_dir, "once upon a time there was a film")
    prompts = [opening + prompt_of(tiny_llama_gguf_dir, w)[1:] for w in ("the best", "a", "no")]
    alone = {tuple(p): list(engine.stream(p, 6, Sampling())) for p in prompts + [opening]}
    decoded = decode_sizes()
    opened: list[int] = []
    init = LlamaContext.__init__

    def noted(self, *args, **kwargs):
        opened.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(LlamaContext, "__init__", noted)
    want = [alone[tuple(p)] for p in prompts]
    assert engine.generate_batch(prompts, 6, Sampling()) == want
    decoded.clear()
    assert engine.generate_batch(prompts, 6, Sampling()) == want
    assert decoded[0] == len(prompts)  # each prompt's last token, then one a live row and step
    reordered = [prompts[2], opening, prompts[0]]
    decoded.clear()
    assert engine.generate_batch(reordered, 6, Sampling()) == [alone[tuple(p)] for p in reordered]
    assert decoded[0] == 3  # every prompt's start was held by one of the caches
    assert len(opened) == 1
    assert engine.generate_batch(prompts[:2], 6, Sampling()) == want[:2]
    assert len(opened) == 2  # two sequences: a context of that shape


@pytest.mark.parametrize("uneven", [0.0, 1e9], ids=["one cache", "a cache per sequence"])
def test_a_cache_lacking_the_shared_opening_gets_it_copied(
    tiny_llama_gguf_dir, prompt_of, monkeypatch, decode_sizes, uneven
):
    """The next batch's prompts all open the same way, but one sequence's cache holds
    another opening: it gets the opening from a cache that holds more (copied whole, then
    cut), and decodes only its own ending."""
    from plmkit.backends import llama_batch

    monkeypatch.setattr(llama_batch, "UNEVEN", uneven)
    engine = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    opening = prompt_of(tiny_llama_gguf_dir, "once upon a time there was a film")
    other = prompt_of(tiny_llama_gguf_dir, "the cat sat on the mat")
    first = [opening + prompt_of(tiny_llama_gguf_dir, w)[1:] for w in ("the best", "a")]
    first.append(other)
    then = first[:2] + [opening + prompt_of(tiny_llama_gguf_dir, "no")[1:]]
    alone = {tuple(p): list(engine.stream(p, 6, Sampling())) for p in first + then}
    assert engine.generate_batch(first, 6, Sampling()) == [alone[tuple(p)] for p in first]
    decoded = decode_sizes()
    assert engine.generate_batch(then, 6, Sampling()) == [alone[tuple(p)] for p in then]
    shared = len(opening) - 1  # then[1] is the opening alone, and keeps its last token
    assert decoded[0] == 1 + 1 + len(then[2]) - shared
