"""PyTorch backends against fp32 on tiny random models.

Tolerances: bf16 cosine > 0.99, int8 cosine > 0.98 (mean-pooled states); classifier logits
within 0.05; decoders: greedy tokens equal to HF generate (fp32), bf16 token log-probs
within 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plmkit import backends
from plmkit.backends import Sampling, registry

COSINE = {"torch-bf16": 0.99, "torch-int8": 0.98}


@pytest.mark.parametrize("name", list(COSINE))
def test_encoder_backends_agree_with_fp32(tiny_bert_dir, name, against_fp32, cosine):
    got, expected = against_fp32(tiny_bert_dir, "embed", name)
    assert [g.shape for g in got] == [e.shape for e in expected]
    assert cosine(got, expected) > COSINE[name]


@pytest.mark.parametrize("name", list(COSINE))
def test_classifier_backends_agree_with_fp32(random_classifier_dir, name, against_fp32, texts):
    got, expected = (np.stack(x) for x in against_fp32(random_classifier_dir, "classify", name))
    assert got.shape == expected.shape == (len(texts), 2)
    assert np.abs(got - expected).max() < 0.05


def test_encode_pipeline_keeps_order_on_int8(tiny_bert_dir, texts):
    from plmkit.pipelines.encode import encode

    result = encode(texts, str(tiny_bert_dir), batch_size=2, backend="torch-int8")
    for text, vector in zip(texts, result.embeddings, strict=True):
        alone = encode(text, str(tiny_bert_dir), backend="torch-int8").embeddings[0]
        assert float(vector @ alone / np.linalg.norm(vector) / np.linalg.norm(alone)) > 0.999


def test_torch_stream_matches_hf_generate(tiny_llama_dir, prompt_of):
    backend = backends.load_causal_lm_backend(str(tiny_llama_dir), "torch-fp32")
    prompt = prompt_of(tiny_llama_dir)
    streamed = list(backend.stream(prompt, 12, Sampling()))
    with torch.inference_mode():
        out = backend.model.generate(
            torch.tensor([prompt]), max_new_tokens=12, do_sample=False, pad_token_id=0
        )
    expected = out[0, len(prompt) :].tolist()
    assert streamed == expected[: len(streamed)]
    batched = backend.generate_batch([prompt, prompt[:3]], 12, Sampling())
    assert batched[0] == streamed


def test_greedy_batch_gives_each_prompt_its_own_greedy_tokens_and_gap(tiny_llama_dir, prompt_of):
    backend = backends.load_causal_lm_backend(str(tiny_llama_dir), "torch-fp32")
    prompt = prompt_of(tiny_llama_dir)
    prompts = [prompt, prompt[:3], prompt[1:]]
    outputs, gaps = backend.greedy_batch(prompts, 6)
    assert outputs == [list(backend.stream(p, 6, Sampling())) for p in prompts]
    with torch.inference_mode():  # the smallest top-2 gap of the first row, computed alone
        logits = backend.model(input_ids=torch.tensor([prompt + outputs[0]])).logits[0]
    top2 = logits[len(prompt) - 1 : len(prompt) - 1 + len(outputs[0])].topk(2, -1).values
    assert gaps[0] == pytest.approx(float((top2[:, 0] - top2[:, 1]).min()), abs=1e-3)


def test_bf16_decoder_scores_like_fp32(tiny_llama_dir, prompt_of):
    if registry.missing("torch-bf16"):
        pytest.skip(registry.missing("torch-bf16"))
    reference = backends.load_causal_lm_backend(str(tiny_llama_dir), "torch-fp32")
    backend = backends.load_causal_lm_backend(str(tiny_llama_dir), "torch-bf16")
    prompt = prompt_of(tiny_llama_dir)
    text = prompt + list(reference.stream(prompt, 10, Sampling()))
    expected, got = reference.token_logprobs(text), backend.token_logprobs(text)
    assert got.shape == expected.shape == (len(text) - 1,)
    assert np.abs(got - expected).max() < 0.05
    new = list(backend.stream(prompt, 10, Sampling()))
    assert 0 < len(new) <= 10
    outs = backend.generate_batch([prompt, prompt[:2]], 6, Sampling())
    assert len(outs) == 2 and all(0 < len(o) <= 6 for o in outs)


@pytest.mark.parametrize(
    "fixture, name",
    [
        ("tiny_gpt2_dir", "torch-fp32"),
        ("tiny_llama_dir", "torch-fp32"),
        ("tiny_llama_dir", "torch-bf16"),
    ],
)
def test_torch_decoders_stop_at_the_context(request, fixture, name, prompt_of):
    """No error at the end of the context (GPT-2's learned positions raised IndexError past
    n_positions): prompt and new tokens fill the 128 positions, then the stream ends."""
    if registry.missing(name):
        pytest.skip(registry.missing(name))
    directory = request.getfixturevalue(fixture)
    backend = backends.load_causal_lm_backend(str(directory), name)
    assert backend.context_size == 128
    prompt = prompt_of(directory)
    new = list(backend.stream(prompt, 100_000, Sampling()))  # greedy repeats: no eos
    assert len(prompt) + len(new) == 128
    # a batch runs to one length: it stops where its longest prompt fills the context
    assert backend.generate_batch([prompt, prompt[:2]], 100_000, Sampling())[0] == new
    assert list(backend.stream(list(range(5, 133)), 10, Sampling())) == []  # already full
    assert backend.generate_batch([list(range(5, 133))], 10, Sampling()) == [[]]
