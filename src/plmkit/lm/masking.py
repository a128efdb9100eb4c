"""BERT's masked-language-model corruption, done right and observable.

`mask_tokens` picks positions and corrupts them (80% [MASK], 10% random token, 10% kept, by
default) and records, per token, what happened (`MaskedBatch.action`), so the split can be
measured (`masking_stats`, `MaskingStats` over many batches). The Trainer-facing wrapper is
`collator.MlmCollator`; one text shown token by token is `walkthrough.mask_one_text`.

Choices, and why:
- Picking is one Bernoulli(mlm_probability) draw per maskable token (or per word with
  whole-word masking), as in Hugging Face's collators, so the expected rate is exact and
  independent of sequence length. Original BERT instead picks exactly round(n * p) positions
  per sequence; that needs per-row sorting and biases short rows upward.
- `at_least_one=True` picks one maskable token uniformly at random in any row where the draw
  picked none (original BERT's `max(1, ...)`). `mask_one_text` turns it on, because a demo on
  a short sentence that shows nothing is useless; `mask_tokens` and `MlmCollator` leave it off
  so the measured rate stays the nominal one (at T=128 a row picks nothing with p = 0.85**128).
- Whole-word masking picks words, then every sub-token of a picked word gets its own
  [MASK]/random/keep draw, exactly as Google's `create_pretraining_data.py` and HF's
  whole-word collator do. A "word" is a run of consecutive tokens with the same word index, so
  word indices that restart (the second text of a pair) cannot merge two words.
- Random replacements are drawn uniformly from the vocabulary minus `exclude_ids` (the
  collator and the walkthrough exclude every special token); a random token may equal the
  original token, as in BERT.
- One fixed sequence of draws from `generator` (pick, action, random ids, at-least-one), so a
  seed reproduces a batch exactly; with `generator=None` torch's global RNG is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from plmkit.errors import InvalidInputError, WrongModelKindError

NOT_PICKED, MASKED, RANDOM, KEPT = 0, 1, 2, 3
ACTION_NAMES = {NOT_PICKED: "-", MASKED: "mask", RANDOM: "random", KEPT: "keep"}
IGNORE_INDEX = -100  # label value the cross-entropy loss ignores


@dataclass
class MaskedBatch:
    """A corrupted batch and a record of what was done to each token."""

    input_ids: torch.Tensor  # (B, T) long: ids after corruption, what the model sees
    labels: torch.Tensor  # (B, T) long: original id where picked, -100 elsewhere
    action: torch.Tensor  # (B, T) int8: 0 not picked, 1 [MASK], 2 random token, 3 kept
    maskable: torch.Tensor  # (B, T) bool: tokens that could have been picked


@dataclass
class MaskingStats:
    """Counts of what masking did, accumulated over one or more batches."""

    n_maskable: int = 0
    n_picked: int = 0
    n_mask: int = 0
    n_random: int = 0
    n_kept: int = 0

    def add(self, batch: MaskedBatch) -> MaskingStats:
        """Add one batch's counts; returns self so calls can be chained."""
        counts = torch.bincount(batch.action.flatten().long(), minlength=4).tolist()
        self.n_maskable += int(batch.maskable.sum())
        self.n_picked += counts[MASKED] + counts[RANDOM] + counts[KEPT]
        self.n_mask += counts[MASKED]
        self.n_random += counts[RANDOM]
        self.n_kept += counts[KEPT]
        return self

    def as_dict(self) -> dict[str, float | int]:
        """Counts, plus picked fraction among maskable and the measured split among picked."""
        picked = max(self.n_picked, 1)
        return {
            **asdict(self),
            "picked_fraction": self.n_picked / max(self.n_maskable, 1),
            "mask_fraction": self.n_mask / picked,
            "random_fraction": self.n_random / picked,
            "kept_fraction": self.n_kept / picked,
        }


def masking_stats(batch: MaskedBatch) -> dict[str, float | int]:
    """Counts and fractions of picked / [MASK] / random / kept tokens in one batch."""
    return MaskingStats().add(batch).as_dict()


def check_probabilities(
    mlm_probability: float, mask_replace_prob: float, random_replace_prob: float
) -> None:
    """Raise InvalidInputError unless 0 < mlm_probability < 1 and the split sums to <= 1."""
    if not 0.0 < mlm_probability < 1.0:
        raise InvalidInputError(
            f"mlm_probability must be strictly between 0 and 1, got {mlm_probability}",
            fix="use a value such as 0.15 (BERT) or 0.3",
        )
    for name, value in (
        ("mask_replace_prob", mask_replace_prob),
        ("random_replace_prob", random_replace_prob),
    ):
        if not 0.0 <= value <= 1.0:
            raise InvalidInputError(
                f"{name} must be between 0 and 1, got {value}",
                fix="use BERT's split: mask_replace_prob=0.8, random_replace_prob=0.1",
            )
    if mask_replace_prob + random_replace_prob > 1.0 + 1e-9:
        raise InvalidInputError(
            f"mask_replace_prob + random_replace_prob = "
            f"{mask_replace_prob + random_replace_prob:.3f} is more than 1",
            fix="the two must sum to at most 1; the rest is the share kept unchanged",
        )


def _check_tensors(
    input_ids: torch.Tensor,
    mask_token_id: int,
    vocab_size: int,
    **per_token: torch.Tensor | None,
) -> None:
    """input_ids is a non-empty (B, T) tensor, the mask id is in the vocabulary, and every
    per-token tensor given has input_ids' shape."""
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise InvalidInputError(
            f"input_ids must be a non-empty (batch, length) tensor, got shape "
            f"{tuple(input_ids.shape)}",
            fix="add a batch dimension, e.g. input_ids[None], and pass at least one token",
        )
    if not 0 <= mask_token_id < vocab_size:
        raise InvalidInputError(
            f"mask_token_id {mask_token_id} is outside the vocabulary of size {vocab_size}",
            fix="pass tokenizer.mask_token_id and len(tokenizer)",
        )
    for name, extra in per_token.items():
        if extra is not None and extra.shape != input_ids.shape:
            raise InvalidInputError(
                f"{name} has shape {tuple(extra.shape)} but input_ids has {tuple(input_ids.shape)}",
                fix=f"give {name} one entry per token, padded like input_ids",
            )


def _replacement_pool(
    vocab_size: int, exclude_ids: Sequence[int] | None, device: torch.device
) -> torch.Tensor:
    """The ids a random replacement is drawn from (V',): the vocabulary minus exclude_ids."""
    allowed = torch.ones(vocab_size, dtype=torch.bool, device=device)
    if exclude_ids:
        excluded = torch.tensor([i for i in exclude_ids if 0 <= i < vocab_size], dtype=torch.long)
        allowed[excluded.to(device)] = False
    pool = allowed.nonzero().squeeze(1)  # (V',)
    if pool.numel() == 0:
        raise InvalidInputError(
            "exclude_ids leaves no token to use as a random replacement",
            fix="exclude only the special tokens",
        )
    return pool


def _word_runs(word_ids: torch.Tensor) -> torch.Tensor:
    """Number each run of equal, non-negative word ids 0, 1, 2... per row; -1 elsewhere."""
    previous = torch.nn.functional.pad(word_ids[:, :-1], (1, 0), value=-1)  # (B, T)
    starts = (word_ids >= 0) & (word_ids != previous)  # (B, T)
    runs = starts.long().cumsum(dim=1) - 1  # (B, T)
    return torch.where(word_ids >= 0, runs, torch.full_like(runs, -1))


def _pick(
    maskable: torch.Tensor,
    runs: torch.Tensor | None,
    mlm_probability: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Bernoulli pick per token, or per word when word runs are given. Returns (B, T) bool."""
    if runs is None:
        draw = torch.rand(maskable.shape, generator=generator, device=maskable.device)
        return (draw < mlm_probability) & maskable
    n_words = max(int(runs.max()) + 1, 1)
    word_draw = torch.rand(
        (maskable.shape[0], n_words), generator=generator, device=maskable.device
    )  # (B, W)
    picked_word = word_draw < mlm_probability  # (B, W)
    return picked_word.gather(1, runs.clamp(min=0)) & (runs >= 0) & maskable


def _ensure_one(
    picked: torch.Tensor,
    maskable: torch.Tensor,
    word_runs: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """In rows with maskable tokens but nothing picked, pick one token (or its whole word)."""
    empty_rows = (~picked.any(dim=1)) & maskable.any(dim=1)  # (B,)
    # One score per token; the maskable token with the highest score wins in each row.
    scores = torch.rand(maskable.shape, generator=generator, device=maskable.device)  # (B, T)
    scores = scores.masked_fill(~maskable, -1.0)
    chosen = scores.argmax(dim=1, keepdim=True)  # (B, 1)
    extra = torch.zeros_like(picked).scatter_(1, chosen, True)  # (B, T)
    if word_runs is not None:
        chosen_run = word_runs.gather(1, chosen)  # (B, 1)
        extra = (word_runs == chosen_run) & maskable
    return picked | (extra & empty_rows[:, None])


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    special_tokens_mask: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    mlm_probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    generator: torch.Generator | None = None,
    word_ids: torch.Tensor | None = None,
    exclude_ids: Sequence[int] | None = None,
    at_least_one: bool = False,
) -> MaskedBatch:
    """Pick and corrupt tokens for masked-language modelling; the input is not modified.

    input_ids (B, T) long. special_tokens_mask (B, T) bool/int, 1 = never pick. attention_mask
    (B, T), 0 = padding, never picked. word_ids (B, T) long, -1 for specials/padding: turns on
    whole-word masking. exclude_ids: ids never drawn as random replacements. `generator` must
    live on input_ids' device. See the module docstring for the choices made.
    """
    check_probabilities(mlm_probability, mask_replace_prob, random_replace_prob)
    _check_tensors(
        input_ids,
        mask_token_id,
        vocab_size,
        special_tokens_mask=special_tokens_mask,
        attention_mask=attention_mask,
        word_ids=word_ids,
    )
    replacement_pool = _replacement_pool(vocab_size, exclude_ids, input_ids.device)  # (V',)

    maskable = torch.ones_like(input_ids, dtype=torch.bool)  # (B, T)
    if special_tokens_mask is not None:
        maskable &= ~special_tokens_mask.bool()
    if attention_mask is not None:
        maskable &= attention_mask.bool()
    word_runs = None
    if word_ids is not None:
        word_ids = word_ids.long()
        maskable &= word_ids >= 0
        word_runs = _word_runs(word_ids)

    picked = _pick(maskable, word_runs, mlm_probability, generator)  # (B, T)
    action_draw = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    random_ids = replacement_pool[
        torch.randint(
            replacement_pool.numel(),
            input_ids.shape,
            generator=generator,
            device=input_ids.device,
        )
    ]  # (B, T)
    if at_least_one:
        picked = _ensure_one(picked, maskable, word_runs, generator)

    action = torch.full(input_ids.shape, KEPT, dtype=torch.int8, device=input_ids.device)
    action[action_draw < mask_replace_prob + random_replace_prob] = RANDOM
    action[action_draw < mask_replace_prob] = MASKED
    action[~picked] = NOT_PICKED

    corrupted = input_ids.clone()
    corrupted[action == MASKED] = mask_token_id
    corrupted = torch.where(action == RANDOM, random_ids, corrupted)
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return MaskedBatch(input_ids=corrupted, labels=labels, action=action, maskable=maskable)


def require_mask_token(tokenizer: Any) -> int:
    """The tokenizer's mask token id; WrongModelKindError when it has none (GPT-style)."""
    if tokenizer.mask_token_id is None:
        raise WrongModelKindError(
            f"tokenizer {type(tokenizer).__name__} has no mask token, so it cannot be used "
            "for masked-language modelling",
            fix="use a BERT-family (encoder) model/tokenizer, e.g. bert-base-uncased",
        )
    return int(tokenizer.mask_token_id)
