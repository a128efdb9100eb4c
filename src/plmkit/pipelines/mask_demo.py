"""`plm mask-demo`: BERT's pre-training corruption shown on real text.

One seeded draw shows which tokens were picked and what each became; the same text masked
many times over shows that the split really is ~15% picked, 80/10/10 of those. No model
runs: preprocess (tokenize once) -> _forward (the masking draws) -> postprocess (their
statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from plmkit import loading
from plmkit.lm.masking import MaskedBatch, mask_tokens, masking_stats
from plmkit.lm.walkthrough import MaskedToken, mask_one_text
from plmkit.validation import require_positive, require_range, require_texts


@dataclass
class MaskDemoResult:
    tokens: list[MaskedToken]
    measured: dict
    """masking_stats over `repeats` independent draws of the same text."""
    repeats: int


def mask_demo(
    text: str,
    model: str = "minilm",
    *,
    seed: int = 0,
    mlm_probability: float = 0.15,
    whole_word: bool = False,
    repeats: int = 2000,
) -> MaskDemoResult:
    (text,) = require_texts(text)
    require_range(mlm_probability, "mlm_probability", 1e-6, 1.0)
    require_positive(repeats, "repeats")
    tokenizer = loading.cached("tokenizer", model)
    encoding = preprocess(text, tokenizer)
    shown, many = _forward(text, encoding, tokenizer, seed, mlm_probability, whole_word, repeats)
    return postprocess(shown, many, repeats)


def preprocess(text: str, tokenizer: Any) -> Any:
    """The text's ids (1, T) and special-tokens mask (1, T), as tensors."""
    return tokenizer(text, truncation=True, return_special_tokens_mask=True, return_tensors="pt")


def _forward(
    text: str,
    encoding: Any,
    tokenizer: Any,
    seed: int,
    mlm_probability: float,
    whole_word: bool,
    repeats: int,
) -> tuple[list[MaskedToken], MaskedBatch]:
    """One seeded draw, token by token, and the masked batch of `repeats` draws of the
    same ids (R, T)."""
    shown = mask_one_text(
        text, tokenizer, seed=seed, mlm_probability=mlm_probability, whole_word=whole_word
    )
    many = mask_tokens(
        encoding["input_ids"].expand(repeats, -1),  # (R, T)
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        special_tokens_mask=encoding["special_tokens_mask"].expand(repeats, -1),
        mlm_probability=mlm_probability,
        generator=torch.Generator().manual_seed(seed),
        exclude_ids=tokenizer.all_special_ids,
    )
    return shown, many


def postprocess(shown: list[MaskedToken], many: MaskedBatch, repeats: int) -> MaskDemoResult:
    return MaskDemoResult(tokens=shown, measured=masking_stats(many), repeats=repeats)
