"""Fixtures of the recipe tests: a private plmkit cache, a tiny corpus, fast pre-training."""

from __future__ import annotations

import random

import pytest
from conftest import WORDS

from plmkit.config import PretrainConfig


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path_factory.getbasetemp() / "plmkit-cache"))


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    """300 short 'reviews' over the tiny tokenizers' words, one a line."""
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + " ." for _ in range(300)]
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny():
    """tiny(out, data, **fields): a PretrainConfig whose run takes about a second."""

    def make(out, data, **overrides):
        settings = dict(
            data=str(data),
            out=str(out),
            block_size=32,
            batch_size=8,
            max_steps=4,
            eval_blocks=8,
            pseudo_perplexity_texts=4,
            bf16=False,
            show_progress=False,
        )
        return PretrainConfig(**{**settings, **overrides})

    return make
