"""`MlmCollator`: pad a list of features and mask them, for a Hugging Face Trainer.

Each call pads the features to the longest one, marks special tokens and padding as never
maskable, and hands the batch to `masking.mask_tokens` (BERT's 80/10/10 corruption). Whole-word
masking needs each token's word: taken from a feature's `word_ids`, else derived from
WordPiece's `##` continuation prefix. What masking did is accumulated in `MlmCollator.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import get_worker_info

from plmkit.errors import InvalidInputError
from plmkit.lm.masking import MaskingStats, check_probabilities, mask_tokens, require_mask_token


def _wordpiece_word_ids(tokenizer: Any, ids: list[int], special: list[bool]) -> list[int]:
    """Word index per token from WordPiece's '##' continuation prefix; -1 for specials."""
    prefix = getattr(tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None)
    if not prefix:
        raise InvalidInputError(
            "whole-word masking needs word_ids in each feature for a non-WordPiece tokenizer",
            fix="tokenize with a fast tokenizer and store encoding.word_ids() as 'word_ids'",
        )
    word_ids, word = [], -1
    for token, is_special in zip(tokenizer.convert_ids_to_tokens(ids), special, strict=True):
        if is_special:
            word_ids.append(-1)
            continue
        if not token.startswith(prefix) or word < 0:
            word += 1
        word_ids.append(word)
    return word_ids


@dataclass
class MlmCollator:
    """Pads a list of features and masks them; pass as `data_collator=` to a HF Trainer.

    Features are dicts with `input_ids` and optionally `attention_mask`, `special_tokens_mask`,
    `word_ids` (None/-1 for specials) and `token_type_ids` (passed through, padded with 0).
    Missing special_tokens_mask: every id in `tokenizer.all_special_ids`. Whole-word masking
    without word_ids derives words from WordPiece's '##' prefix.

    With a seed the sequence of batches is reproducible. In DataLoader workers the seed is
    mixed with the worker's torch seed, which differs per worker and per epoch, so workers do
    not repeat each other's masks. `stats` accumulates what masking did in this process.
    A HF Trainer drops dataset columns the model does not take (`word_ids`,
    `special_tokens_mask`) unless `remove_unused_columns=False`; the fallbacks above then apply.
    """

    tokenizer: Any
    mlm_probability: float = 0.15
    whole_word: bool = False
    seed: int | None = None
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    stats: MaskingStats = field(default_factory=MaskingStats, init=False)
    _generators: dict[int, torch.Generator] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_probabilities(self.mlm_probability, self.mask_replace_prob, self.random_replace_prob)
        self.mask_token_id = require_mask_token(self.tokenizer)
        if self.tokenizer.pad_token_id is None:
            raise InvalidInputError(
                f"tokenizer {type(self.tokenizer).__name__} has no pad token",
                fix="set tokenizer.pad_token before building the collator",
            )

    def _generator(self) -> torch.Generator | None:
        if self.seed is None:
            return None
        worker = get_worker_info()
        key = -1 if worker is None else worker.id
        if key not in self._generators:
            seed = self.seed if worker is None else hash((self.seed, torch.initial_seed()))
            self._generators[key] = torch.Generator().manual_seed(seed & (2**63 - 1))
        return self._generators[key]

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise InvalidInputError(
                "cannot collate an empty list of features", fix="use a batch size of at least 1"
            )
        special_ids = torch.tensor(self.tokenizer.all_special_ids, dtype=torch.long)
        rows = [torch.as_tensor(f["input_ids"], dtype=torch.long).flatten() for f in features]
        batch, seq = len(rows), max(len(r) for r in rows)
        input_ids = torch.full((batch, seq), self.tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch, seq), dtype=torch.long)
        special = torch.ones((batch, seq), dtype=torch.bool)
        word_ids = torch.full((batch, seq), -1, dtype=torch.long)
        token_types = torch.zeros((batch, seq), dtype=torch.long)
        has_types = all("token_type_ids" in f for f in features)
        for b, (ids, feature) in enumerate(zip(rows, features, strict=True)):
            n = len(ids)
            input_ids[b, :n] = ids
            mask = feature.get("attention_mask")
            attention_mask[b, :n] = torch.as_tensor(mask) if mask is not None else 1
            row_special = feature.get("special_tokens_mask")
            if row_special is None:
                row_special = torch.isin(ids, special_ids)
            special[b, :n] = torch.as_tensor(row_special).bool()
            if self.whole_word:
                row_words = feature.get("word_ids")
                if row_words is None:
                    row_words = _wordpiece_word_ids(
                        self.tokenizer, ids.tolist(), special[b, :n].tolist()
                    )
                word_ids[b, :n] = torch.tensor([-1 if w is None else int(w) for w in row_words])
            if has_types:
                token_types[b, :n] = torch.as_tensor(feature["token_type_ids"])
        masked = mask_tokens(
            input_ids,
            mask_token_id=self.mask_token_id,
            vocab_size=len(self.tokenizer),
            special_tokens_mask=special,
            attention_mask=attention_mask,
            mlm_probability=self.mlm_probability,
            mask_replace_prob=self.mask_replace_prob,
            random_replace_prob=self.random_replace_prob,
            generator=self._generator(),
            word_ids=word_ids if self.whole_word else None,
            exclude_ids=self.tokenizer.all_special_ids,
        )
        self.stats.add(masked)
        out = {
            "input_ids": masked.input_ids,
            "attention_mask": attention_mask,
            "labels": masked.labels,
        }
        if has_types:
            out["token_type_ids"] = token_types
        return out
