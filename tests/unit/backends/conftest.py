"""Fixtures for the backend tests: an own plmkit cache per test, a tiny random classifier,
the tiny Llama as an F32 GGUF, and helpers to compare a backend with torch fp32."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from plmkit import backends, loading
from plmkit.backends import registry

TEXTS = [
    "the cat sat on the mat and the dog sat on the mat too",
    "good",
    "this movie was very good but the plot was a tedious mess",
    "the best film ever",
    "bad acting",
]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test gets its own plmkit cache (auto decisions, converted models)."""
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    backends.unload_all()
    yield
    backends.unload_all()


@pytest.fixture
def texts() -> list[str]:
    """Five texts of unsorted lengths (so that a lost input order shows)."""
    return list(TEXTS)


@pytest.fixture(scope="module")
def random_classifier_dir(tmp_path_factory, tiny_bert_dir):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    config = BertConfig.from_pretrained(tiny_bert_dir)
    config.num_labels, config.id2label = 2, {0: "negative", 1: "positive"}
    config.label2id = {"negative": 0, "positive": 1}
    directory = tmp_path_factory.mktemp("tiny-classifier")
    BertForSequenceClassification(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_llama_gguf_dir(tmp_path_factory, tiny_llama_dir):
    """tiny_llama_dir plus its weights as an F32 GGUF, which the llama-cpp backends find."""
    if registry.missing("llama-cpp"):  # CI has no llama.cpp build: skip before any work
        pytest.skip(registry.missing("llama-cpp"))
    from gguf_writer import write_llama_gguf

    directory = tmp_path_factory.mktemp("tiny-llama-gguf")
    shutil.copytree(tiny_llama_dir, directory, dirs_exist_ok=True)
    write_llama_gguf(directory, directory / "tiny-llama-f32.gguf")
    return directory


@pytest.fixture
def pretend_missing(monkeypatch):
    """pretend_missing("onnxruntime"): the registry sees that module as not installed."""

    def pretend(module: str) -> None:
        real = registry._module_missing
        monkeypatch.setattr(registry, "_module_missing", lambda m: m == module or real(m))

    return pretend


@pytest.fixture
def against_fp32():
    """against_fp32(directory, task, name) -> (backend's results, torch fp32's) on TEXTS,
    after skipping when `name` is not installed."""

    def run(directory, task: str, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if registry.missing(name):
            pytest.skip(registry.missing(name))
        tokenizer = loading.load_tokenizer(str(directory))
        reference = backends.load_encoder_backend(str(directory), task, "torch-fp32")
        backend = backends.load_encoder_backend(str(directory), task, name)
        assert backend.name == name
        got = backends.forward_sorted(backend, tokenizer, TEXTS)
        return got, backends.forward_sorted(reference, tokenizer, TEXTS)

    return run


def mean_cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    pairs = [
        (x.mean(0) if x.ndim == 2 else x, y.mean(0) if y.ndim == 2 else y)
        for x, y in zip(a, b, strict=True)
    ]
    return float(np.mean([x @ y / np.linalg.norm(x) / np.linalg.norm(y) for x, y in pairs]))


@pytest.fixture
def cosine():
    """Mean cosine of mean-pooled token states (or logits) against the reference's."""
    return mean_cosine


@pytest.fixture
def prompt_of():
    """prompt_of(directory, text) -> the token ids of `text` (a fixed story opening)."""

    def ids(directory, text: str = "once upon a time there was") -> list[int]:
        return loading.load_tokenizer(str(directory))(text)["input_ids"]

    return ids
