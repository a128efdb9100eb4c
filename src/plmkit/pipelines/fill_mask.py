"""`plm fill-mask`: top-k tokens for each [MASK] in a text, from an encoder's MLM head."""

from __future__ import annotations

from dataclasses import dataclass

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
    model_obj = loading.cached("masked_lm", model)
    tokenizer = loading.cached("tokenizer", model)
    mask = tokenizer.mask_token
    text = text.replace("[MASK]", mask) if mask != "[MASK]" else text
    if mask not in text:
        raise InvalidInputError(
            f"the text has no {mask} token to fill",
            f'put {mask} where a word is missing, e.g. "The cat sat on the {mask}."',
        )
    # preprocess
    inputs = tokenizer(text, return_tensors="pt", truncation=True)
    positions = (inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    # _forward
    with torch.inference_mode():
        logits = model_obj(**inputs).logits[0, positions]  # (M, V)
    probs = logits.float().softmax(-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    # postprocess
    results = []
    for m, position in enumerate(positions.tolist()):
        candidates = []
        for score, token_id in zip(top.values[m].tolist(), top.indices[m].tolist(), strict=True):
            ids = inputs["input_ids"][0].clone()
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
