"""`plm fill-mask`: top-k tokens for each [MASK] in a text, from an encoder's MLM head.

preprocess (map `[MASK]` to the tokenizer's mask token, tokenize, find the masks) ->
_forward (the MLM head's probabilities at the masks, top k) -> postprocess (a ranked
candidate list per mask, each with the filled-in sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from plmkit import loading
from plmkit.errors import InvalidInputError
from plmkit.validation import require_positive, require_texts


@dataclass
class Candidate:
    token: str
    token_id: int
    score: float
    sequence: str


def fill_mask(text: str, model: str = "minilm", top_k: int = 5) -> list[list[Candidate]]:
    """One ranked candidate list per mask in `text` (left to right).

    `[MASK]` is accepted for any tokenizer and mapped to its own mask token (e.g. `<mask>`).
    """
    (text,) = require_texts(text)
    require_positive(top_k, "top_k")
    masked_lm = loading.cached("masked_lm", model)
    tokenizer = loading.cached("tokenizer", model)
    inputs, positions = preprocess(text, tokenizer)
    top = _forward(masked_lm, inputs, positions, top_k)
    return postprocess(inputs["input_ids"][0], positions, top, tokenizer)


def preprocess(text: str, tokenizer: Any) -> tuple[Any, torch.Tensor]:
    """The model inputs (batch of 1) and the positions of the mask tokens (M,)."""
    mask = tokenizer.mask_token
    text = text.replace("[MASK]", mask) if mask != "[MASK]" else text
    if mask not in text:
        raise InvalidInputError(
            f"the text has no {mask} token to fill",
            f'put {mask} where a word is missing, e.g. "The cat sat on the {mask}."',
        )
    inputs = tokenizer(text, return_tensors="pt", truncation=True)
    positions = (inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()  # (M,)
    return inputs, positions


def _forward(masked_lm: Any, inputs: Any, positions: torch.Tensor, top_k: int) -> Any:
    """The `top_k` (values, indices) of the vocabulary probabilities at each mask: (M, k)."""
    with torch.inference_mode():
        logits = masked_lm(**inputs).logits[0, positions]  # (M, V)
    probs = logits.float().softmax(-1)
    return probs.topk(min(top_k, probs.shape[-1]), dim=-1)


def postprocess(
    input_ids: torch.Tensor, positions: torch.Tensor, top: Any, tokenizer: Any
) -> list[list[Candidate]]:
    results = []
    for m, position in enumerate(positions.tolist()):
        candidates = []
        for score, token_id in zip(top.values[m].tolist(), top.indices[m].tolist(), strict=True):
            ids = input_ids.clone()  # (T,)
            ids[position] = token_id
            candidates.append(
                Candidate(
                    token=tokenizer.convert_ids_to_tokens(token_id),
                    token_id=token_id,
                    score=score,
                    sequence=tokenizer.decode(ids, skip_special_tokens=True),
                )
            )
        results.append(candidates)
    return results
