"""One text masked once and reported token by token: what `plm mask-demo` shows.

Deterministic for a seed, and at least one token is always picked (`at_least_one`), so a
short sentence still shows the corruption. The measured split over many draws is the
pipeline's job (`plmkit.pipelines.mask_demo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from plmkit.errors import InvalidInputError
from plmkit.lm.masking import ACTION_NAMES, mask_tokens, require_mask_token


@dataclass
class MaskedToken:
    """One token of `mask_one_text`: what it was, what happened, what the model sees."""

    position: int
    token: str
    action: str  # "mask", "random", "keep", or "-" (not picked)
    shown: str  # the token after corruption


def mask_one_text(
    text: str,
    tokenizer: Any,
    seed: int = 0,
    mlm_probability: float = 0.15,
    whole_word: bool = False,
) -> list[MaskedToken]:
    """Mask one text and report every token; deterministic for a seed.

    At least one token (one word with whole_word) is always picked when the text has any
    maskable token, so a short sentence still shows the corruption. Text longer than the
    tokenizer's model_max_length is truncated.
    """
    if not text or not text.strip():
        raise InvalidInputError("the text to mask is empty", fix="pass a sentence to mask")
    mask_token_id = require_mask_token(tokenizer)
    encoding = tokenizer(
        text, truncation=True, return_special_tokens_mask=True, return_tensors="pt"
    )
    input_ids = encoding["input_ids"]  # (1, T)
    word_ids = None
    if whole_word:
        word_ids = torch.tensor([[-1 if w is None else w for w in encoding.word_ids(0)]])
    masked = mask_tokens(
        input_ids,
        mask_token_id=mask_token_id,
        vocab_size=len(tokenizer),
        special_tokens_mask=encoding["special_tokens_mask"],
        mlm_probability=mlm_probability,
        generator=torch.Generator().manual_seed(seed),
        word_ids=word_ids,
        exclude_ids=tokenizer.all_special_ids,
        at_least_one=True,
    )
    before = tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
    after = tokenizer.convert_ids_to_tokens(masked.input_ids[0].tolist())
    return [
        MaskedToken(position=t, token=before[t], action=ACTION_NAMES[int(a)], shown=after[t])
        for t, a in enumerate(masked.action[0].tolist())
    ]
