"""CTranslate2 int8 decoders against torch fp32: token log-probs within 0.25."""

from __future__ import annotations

import numpy as np
import pytest

from plmkit import backends
from plmkit.backends import Sampling, registry
from plmkit.errors import InvalidInputError


@pytest.fixture(autouse=True)
def needs_ct2():
    if registry.missing("ct2-int8"):
        pytest.skip(registry.missing("ct2-int8"))


def test_ct2_scores_like_fp32(tiny_llama_dir, prompt_of):
    reference = backends.load_causal_lm_backend(str(tiny_llama_dir), "torch-fp32")
    backend = backends.load_causal_lm_backend(str(tiny_llama_dir), "ct2-int8")
    prompt = prompt_of(tiny_llama_dir)
    text = prompt + list(reference.stream(prompt, 10, Sampling()))
    expected, got = reference.token_logprobs(text), backend.token_logprobs(text)
    assert got.shape == expected.shape == (len(text) - 1,)
    assert np.abs(got - expected).max() < 0.25
    new = list(backend.stream(prompt, 10, Sampling()))
    assert 0 < len(new) <= 10
    outs = backend.generate_batch([prompt, prompt[:2]], 6, Sampling())
    assert len(outs) == 2 and all(0 < len(o) <= 6 for o in outs)


def test_generate_pipeline_on_ct2_streams_and_stops(tiny_llama_dir):
    from plmkit.config import GenerateConfig
    from plmkit.pipelines.generate import generate

    pieces: list[str] = []
    config = GenerateConfig(max_new_tokens=16)
    result = generate("the cat", str(tiny_llama_dir), config, on_text=pieces.append, backend="ct2")
    assert result.new_tokens > 0 and result.first_token_seconds is not None
    assert "".join(pieces) == result.text
    reference = generate("the cat", str(tiny_llama_dir), config, backend="torch-fp32")
    assert result.prompt_tokens == reference.prompt_tokens
    with pytest.raises(InvalidInputError):
        generate("the cat", str(tiny_llama_dir), GenerateConfig(strategy="beam"), backend="ct2")


def test_ct2_stops_at_the_context(tiny_llama_dir, prompt_of):
    """CTranslate2 keeps no limit of its own: the model's 128 positions are the context."""
    backend = backends.load_causal_lm_backend(str(tiny_llama_dir), "ct2-int8")
    assert backend.context_size == 128
    prompt = prompt_of(tiny_llama_dir)
    new = list(backend.stream(prompt, 100_000, Sampling()))  # greedy repeats: no eos
    assert len(prompt) + len(new) == 128
    assert backend.generate_batch([prompt, prompt[:2]], 100_000, Sampling())[0] == new
    assert list(backend.stream(list(range(5, 133)), 10, Sampling())) == []


def test_generate_pipeline_on_ct2_caps_at_the_context_and_stops_on_ctrl_c(tiny_llama_dir):
    from plmkit.config import GenerateConfig
    from plmkit.pipelines.generate import GenerationInterrupted, generate

    config = GenerateConfig(max_new_tokens=100_000)
    result = generate("the cat", str(tiny_llama_dir), config, backend="ct2-int8")
    assert result.prompt_tokens + result.new_tokens == 128 and result.finish_reason == "length"
    assert "on ct2-int8 holds 128 tokens" in result.note

    pieces: list[str] = []

    def ctrl_c(text: str) -> None:  # Ctrl-C on the first piece of text
        pieces.append(text)
        if len(pieces) == 1:
            raise KeyboardInterrupt

    with pytest.raises(GenerationInterrupted) as stop:
        generate("the cat", str(tiny_llama_dir), config, on_text=ctrl_c, backend="ct2-int8")
    partial = stop.value.result
    assert partial.finish_reason == "interrupted" and partial.text == "".join(pieces)
    assert 0 < partial.new_tokens < 126
