"""llama.cpp on an F32 GGUF written from the tiny Llama, against torch fp32 (skipped where
llama-cpp-python is not built)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plmkit import backends, loading
from plmkit.backends import Sampling, registry

LLAMA_CPP_TOLERANCE = {
    "llama-cpp": 1e-4, "llama-cpp-q8": 1e-2, "llama-cpp-bf16": 4e-3, "llama-cpp-f16": 5e-4
}  # fmt: skip
"""Max |token log-prob - torch fp32| over the prompt and 8 greedy tokens, about 5x what was
measured (2-core AMD EPYC, llama-cpp-python 0.3.36): F32 1.5e-5 (K/V cached as F16), Q8_0
2.5e-3, BF16 8.5e-4, F16 1.1e-4. The random model is near-uniform (log-probs -5.2 to -6.5,
log 400 = 6.0), so the numbers are small; but a GGUF without the q/k rope permutation is off
by 3.8e-4 and one with k permuted for 4 heads instead of 2 by 1.2e-3, both beyond the F32
tolerance."""


@pytest.mark.parametrize("name", list(LLAMA_CPP_TOLERANCE))
def test_llama_cpp_backends_score_like_fp32(tiny_llama_gguf_dir, name, prompt_of):
    """llama.cpp on the F32 GGUF (and its Q8_0 / BF16 rewrites) against torch fp32."""
    if registry.missing(name):
        pytest.skip(registry.missing(name))
    tolerance = LLAMA_CPP_TOLERANCE[name]
    reference = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "torch-fp32")
    llama = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), name)
    assert llama.name == name
    prompt = prompt_of(tiny_llama_gguf_dir)
    greedy = list(reference.stream(prompt, 8, Sampling()))
    text = prompt + greedy
    expected, got = reference.token_logprobs(text), llama.token_logprobs(text)
    assert got.shape == expected.shape == (len(text) - 1,)
    assert np.abs(got - expected).max() < tolerance

    # fp32's top-2 log-prob gaps on these steps are 0.39 to 0.54, far above any tolerance, so
    # greedy tokens must match exactly (the random model repeats one token per prompt).
    new = list(llama.stream(prompt, 8, Sampling()))
    if name == "llama-cpp":
        assert new == greedy
    # Every token llama.cpp picks is fp32's argmax, or within the tolerance of it (a near-tie).
    with torch.inference_mode():
        logits = reference.model(torch.tensor([prompt + new])).logits[0, len(prompt) - 1 : -1]
    logprobs = torch.log_softmax(logits.float(), -1)
    chosen = logprobs[torch.arange(len(new)), new]
    assert float((logprobs.max(-1).values - chosen).max()) < tolerance

    prompts = [prompt, prompt_of(tiny_llama_gguf_dir, "the best film ever")]
    alone = [list(llama.stream(p, 8, Sampling())) for p in prompts]
    assert alone[0] != alone[1]  # else input order would not show
    assert llama.generate_batch(prompts, 8, Sampling()) == alone


def test_batched_sampling_is_seeded(tiny_llama_gguf_dir, prompt_of):
    """Sampled batches (pick_token on llama.cpp's logits) repeat for a seed."""
    llama = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    prompts = [prompt_of(tiny_llama_gguf_dir), prompt_of(tiny_llama_gguf_dir, "the best film")]
    sample = Sampling(greedy=False, top_k=0, temperature=5.0, seed=7)
    first = llama.generate_batch(prompts, 6, sample)
    assert first == llama.generate_batch(prompts, 6, sample)
    assert first != llama.generate_batch(prompts, 6, Sampling())  # near-uniform: it differs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama-cpp", "llama-cpp-q8", "llama-cpp-bf16", "llama-cpp-f16"])
def test_llama_cpp_on_the_embedded_decoder(name):
    if registry.missing(name):
        pytest.skip(registry.missing(name))
    tokenizer = loading.load_tokenizer("smollm2")
    prompt = tokenizer("The capital of France is")["input_ids"]
    llama = backends.load_causal_lm_backend("smollm2", name)
    text = tokenizer.decode(list(llama.stream(prompt, 8, Sampling())))
    assert "Paris" in text
    reference = backends.load_causal_lm_backend("smollm2", "torch-fp32")
    ids = prompt + list(reference.stream(prompt, 16, Sampling()))
    gap = np.abs(llama.token_logprobs(ids) - reference.token_logprobs(ids)).mean()
    assert gap < 0.1  # the Q4_1 values (Q8_0 / BF16 rewrites), 8-bit activations
    batched = llama.generate_batch([prompt, prompt], 8, Sampling())
    assert len(batched) == 2 and "Paris" in tokenizer.decode(batched[0])


@pytest.mark.parametrize("name", list(LLAMA_CPP_TOLERANCE))
def test_llama_cpp_stops_at_the_context(tiny_llama_gguf_dir, name, prompt_of):
    """llama.cpp raised `llama_decode returned 1` when its context ran out. The context is
    the one opened, or the model's trained one (128 here) where shorter; every sequence of a
    batch gets the room its own prompt leaves."""
    if registry.missing(name):
        pytest.skip(registry.missing(name))
    llama = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), name)
    assert llama.context_size == 128
    prompt = prompt_of(tiny_llama_gguf_dir)
    new = list(llama.stream(prompt, 100_000, Sampling()))  # greedy repeats: no eos
    assert len(prompt) + len(new) == 128
    short = list(llama.stream(prompt[:2], 100_000, Sampling()))
    assert len(short) == 126
    assert llama.generate_batch([prompt, prompt[:2]], 100_000, Sampling()) == [new, short]
    assert list(llama.stream(list(range(5, 133)), 10, Sampling())) == []
    assert llama.generate_batch([list(range(5, 133)), prompt], 4, Sampling()) == [[], new[:4]]


def test_generate_pipeline_on_llama_cpp_caps_at_the_context_and_stops_on_ctrl_c(
    tiny_llama_gguf_dir,
):
    from plmkit.config import GenerateConfig
    from plmkit.pipelines.generate import GenerationInterrupted, generate

    model, config = str(tiny_llama_gguf_dir), GenerateConfig(max_new_tokens=100_000)
    result = generate("the cat", model, config, backend="llama-cpp")
    assert result.prompt_tokens + result.new_tokens == 128 and result.finish_reason == "length"
    assert "on llama-cpp holds 128 tokens" in result.note

    pieces: list[str] = []

    def ctrl_c(text: str) -> None:  # Ctrl-C on the first piece of text
        pieces.append(text)
        if len(pieces) == 1:
            raise KeyboardInterrupt

    with pytest.raises(GenerationInterrupted) as stop:
        generate("the cat", model, config, on_text=ctrl_c, backend="llama-cpp")
    partial = stop.value.result
    assert partial.finish_reason == "interrupted" and partial.text == "".join(pieces)
    assert 0 < partial.new_tokens < 126
    assert generate("the cat", model, config, backend="llama-cpp").text == result.text


def test_the_amx_int8_kernels_are_kept_out_of_quantised_loads(monkeypatch, tiny_llama_gguf_dir):
    """llama.cpp's AMX int8 buffers crashed the process on an AMX Xeon: a build that has them
    loads quantised files without ggml's extra buffer types, and restores the default after."""
    import llama_cpp.llama as llama_module

    from plmkit.backends import llama_cpp_backend

    default = llama_module.llama_cpp.llama_model_default_params
    seen: list = []  # the parameter structs handed out, as the load then used them

    def spy():
        values = default()
        seen.append(values)
        return values

    monkeypatch.setattr(llama_module.llama_cpp, "llama_model_default_params", spy)
    with llama_cpp_backend._without_extra_buffers(True):
        assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_module.llama_cpp.llama_model_default_params is spy
    with llama_cpp_backend._without_extra_buffers(False):
        assert llama_module.llama_cpp.llama_model_default_params is spy
    monkeypatch.setattr(llama_cpp_backend, "amx_int8_built", lambda: True)
    seen.clear()
    llama_cpp_backend.LlamaCppCausalLM(str(tiny_llama_gguf_dir), "llama-cpp")
    assert [values.use_extra_bufts for values in seen] == [False]
    monkeypatch.setattr(llama_cpp_backend, "amx_int8_built", lambda: False)
    seen.clear()
    llama_cpp_backend.LlamaCppCausalLM(str(tiny_llama_gguf_dir), "llama-cpp")
    assert [values.use_extra_bufts for values in seen] == [True]  # the default: unchanged


@pytest.mark.parametrize(
    ("patches", "one_shot", "mapped"),
    [
        ("sgemm-few-rows+huge-pages", None, False),
        ("huge-pages", None, False),
        ("huge-pages", 64, True),  # `plm generate`'s default: a quick start
        ("huge-pages", 256, False),  # long enough for the huge pages to pay
        ("sgemm-few-rows", None, True),
        (None, None, True),
        (None, 1024, True),
    ],
)
def test_weights_are_read_into_memory_only_where_the_build_advises_huge_pages(
    monkeypatch, tiny_llama_gguf_dir, patches, one_shot, mapped
):
    """A build with plmkit's huge-pages patch gets the weights read into its buffers (use_mmap
    off, so they can sit in 2 MiB pages), unless one short decode is all the process does;
    any other build maps the file, the fastest start."""
    import llama_cpp.llama as llama_module

    from plmkit.backends import llama_cpp_backend

    monkeypatch.setattr(llama_cpp_backend, "_one_shot_tokens", None)  # undone after the test
    if one_shot is not None:
        llama_cpp_backend.expect_one_shot(one_shot)

    default = llama_module.llama_cpp.llama_model_default_params
    seen: list = []

    def spy():
        seen.append(default())
        return seen[-1]

    monkeypatch.setattr(llama_module.llama_cpp, "llama_model_default_params", spy)
    monkeypatch.setattr(registry, "llama_cpp_patch", lambda: patches)
    llama = llama_cpp_backend.LlamaCppCausalLM(str(tiny_llama_gguf_dir), "llama-cpp")
    mode = (
        llama_module.llama_cpp.LLAMA_LOAD_MODE_MMAP
        if mapped
        else llama_module.llama_cpp.LLAMA_LOAD_MODE_NONE
    )
    assert [values.load_mode for values in seen] == [mode]
    assert len(list(llama.stream([1, 2, 3], 4, Sampling()))) == 4  # and it decodes
