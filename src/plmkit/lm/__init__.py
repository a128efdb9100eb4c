"""Language-modelling building blocks shared by the pre-training recipes, `plm mask-demo` and
the bench. They import only plmkit's core (errors, validation, paths, progress), never models'
loading, pipelines or training.

    masking.py             BERT's 15% / 80-10-10 corruption (`mask_tokens`), measured
    collator.py            `MlmCollator`: pad features, then mask (for a HF Trainer)
    walkthrough.py         one text masked once, token by token (`mask_one_text`)
    packing.py             tokenize once, concatenate, cut into full blocks; content-hash cache
    metrics.py             perplexity, masked-token accuracy on fixed masks, pseudo-perplexity
    tokenizer_training.py  a new WordPiece (BERT) or byte-level BPE (GPT-2) tokenizer

Names are re-exported lazily, so that `plmkit.lm.tokenizer_training` (and
`plmkit.train_tokenizer`) stay free of the torch import the other modules need.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IGNORE_INDEX": "masking",
    "MaskedBatch": "masking",
    "MaskingStats": "masking",
    "mask_tokens": "masking",
    "masking_stats": "masking",
    "require_mask_token": "masking",
    "MlmCollator": "collator",
    "MaskedToken": "walkthrough",
    "mask_one_text": "walkthrough",
    "PackedCorpus": "packing",
    "PackedDataset": "packing",
    "cache_key": "packing",
    "pack_corpus": "packing",
    "padded_baseline_stats": "packing",
    "masked_lm_metrics": "metrics",
    "masked_logits": "metrics",
    "perplexity": "metrics",
    "pseudo_perplexity": "metrics",
    "kind_for_arch": "tokenizer_training",
    "train_tokenizer": "tokenizer_training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"plmkit.lm.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'plmkit.lm' has no attribute {name!r}")
