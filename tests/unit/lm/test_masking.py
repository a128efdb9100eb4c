"""Tests for plmkit.lm.masking: rates and split, invariants, determinism, whole words, errors."""

from __future__ import annotations

import pytest
import torch

from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.lm.masking import (
    IGNORE_INDEX,
    KEPT,
    MASKED,
    NOT_PICKED,
    RANDOM,
    MaskingStats,
    mask_tokens,
    masking_stats,
    require_mask_token,
)

VOCAB = 1000
MASK_ID = 4
SPECIAL_IDS = [0, 1, 2, 3, 4]  # pad, unk, cls, sep, mask in these synthetic batches


def synthetic_batch(batch: int, length: int, seed: int = 0):
    """Random ids with [CLS]/[SEP] and right padding of random length per row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (batch, length), generator=g)  # (B, T)
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=g)  # (B,)
    attention = (torch.arange(length)[None, :] < lengths[:, None]).long()  # (B, T)
    ids[:, 0] = 2
    ids[torch.arange(batch), lengths - 1] = 3
    ids[attention == 0] = 0
    special = torch.isin(ids, torch.tensor(SPECIAL_IDS))  # (B, T)
    return ids, special, attention


def run_mask(ids, special=None, attention=None, seed=0, **kwargs):
    return mask_tokens(
        ids,
        special_tokens_mask=special,
        attention_mask=attention,
        mask_token_id=MASK_ID,
        vocab_size=VOCAB,
        generator=torch.Generator().manual_seed(seed),
        exclude_ids=SPECIAL_IDS,
        **kwargs,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_measured_rates_match_bert_split(seed):
    # 32,768 maskable tokens: the picked fraction has a standard deviation of 0.002 (so 0.01 is
    # 5 sigma) and, over ~4,900 picked tokens, each share of the split 0.006 or less (0.02 is
    # over 3 sigma); a wrong rule (e.g. 10% picked, or 70/20/10) misses by far more.
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (128, 256))  # (B, T), all maskable
    stats = masking_stats(run_mask(ids, seed=seed))
    assert stats["n_maskable"] == ids.numel()
    assert abs(stats["picked_fraction"] - 0.15) < 0.01
    assert abs(stats["mask_fraction"] - 0.8) < 0.02
    assert abs(stats["random_fraction"] - 0.1) < 0.02
    assert abs(stats["kept_fraction"] - 0.1) < 0.02
    assert stats["n_picked"] == stats["n_mask"] + stats["n_random"] + stats["n_kept"]


def test_custom_probabilities_are_honoured():
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (128, 256))
    stats = masking_stats(
        run_mask(ids, mlm_probability=0.4, mask_replace_prob=0.5, random_replace_prob=0.5)
    )
    assert abs(stats["picked_fraction"] - 0.4) < 0.01
    assert abs(stats["mask_fraction"] - 0.5) < 0.02
    assert stats["n_kept"] == 0


def test_invariants_labels_specials_padding():
    ids, special, attention = synthetic_batch(64, 128)
    original = ids.clone()
    out = run_mask(ids, special, attention, mlm_probability=0.5)
    assert torch.equal(ids, original), "the input must not be modified"
    picked = out.action != NOT_PICKED
    assert not picked[special].any(), "a special token was picked"
    assert not picked[attention == 0].any(), "a padding position was picked"
    assert torch.equal(out.maskable, ~special & attention.bool())
    assert torch.equal(out.labels == IGNORE_INDEX, ~picked)
    assert torch.equal(out.labels[picked], original[picked])
    assert torch.equal(out.input_ids[~picked], original[~picked])
    assert torch.equal(out.input_ids[out.action == KEPT], original[out.action == KEPT])
    assert (out.input_ids[out.action == MASKED] == MASK_ID).all()
    random_tokens = out.input_ids[out.action == RANDOM]
    assert random_tokens.numel() > 100
    assert not torch.isin(random_tokens, torch.tensor(SPECIAL_IDS)).any()
    assert out.action.dtype == torch.int8 and out.labels.dtype == torch.long


def test_same_seed_same_result_different_seed_differs():
    ids, special, attention = synthetic_batch(8, 64)
    a, b = run_mask(ids, special, attention, seed=7), run_mask(ids, special, attention, seed=7)
    c = run_mask(ids, special, attention, seed=8)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.action, b.action)
    assert not torch.equal(a.action, c.action)


def test_at_least_one_picks_in_every_row_with_maskable_tokens():
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (200, 3))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[-1] = True  # a row with nothing maskable stays unpicked
    plain = run_mask(ids, special, mlm_probability=0.01)
    assert ((plain.action != NOT_PICKED).sum(1) == 0).sum() > 150
    forced = run_mask(ids, special, mlm_probability=0.01, at_least_one=True)
    picked_per_row = (forced.action != NOT_PICKED).sum(1)
    assert (picked_per_row[:-1] >= 1).all() and picked_per_row[-1] == 0


def test_whole_word_runs_are_picked_together_even_when_word_ids_restart():
    # two "sentences" whose word ids both start at 0, as in a tokenized text pair
    word_ids = torch.tensor([[-1, 0, 0, 1, 2, 2, 2, -1, 0, 0, 1, -1, -1]]).repeat(400, 1)
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, word_ids.shape)
    out = run_mask(ids, word_ids=word_ids, mlm_probability=0.3)
    picked = out.action != NOT_PICKED
    for span in ([1, 2], [4, 5, 6], [8, 9]):
        assert (picked[:, span].all(1) | ~picked[:, span].any(1)).all()
    assert not picked[word_ids < 0].any()
    # word 0 of the first sentence and word 0 of the second are drawn separately
    assert (picked[:, 1] != picked[:, 8]).any()
    # each sub-token of a picked word gets its own [MASK]/random/keep draw
    long_word = out.action[:, 4:7][picked[:, 4]]
    assert (long_word.min(1).values != long_word.max(1).values).any()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mlm_probability": 0.0},
        {"mlm_probability": 1.0},
        {"mlm_probability": -0.1},
        {"mlm_probability": 1.5},
        {"mask_replace_prob": 0.95, "random_replace_prob": 0.1},
        {"mask_replace_prob": -0.1},
        {"random_replace_prob": 1.2},
        {"mask_token_id": VOCAB},
    ],
)
def test_bad_arguments_raise_invalid_input(kwargs):
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (2, 8))
    args = {"mask_token_id": MASK_ID, "vocab_size": VOCAB, **kwargs}
    with pytest.raises(InvalidInputError) as info:
        mask_tokens(ids, **args)
    assert info.value.fix


def test_bad_shapes_and_exclusions_raise_invalid_input():
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (2, 8))
    with pytest.raises(InvalidInputError):
        mask_tokens(ids[0], mask_token_id=MASK_ID, vocab_size=VOCAB)
    with pytest.raises(InvalidInputError):
        mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, attention_mask=torch.ones(2, 7))
    with pytest.raises(InvalidInputError):
        mask_tokens(ids, mask_token_id=MASK_ID, vocab_size=VOCAB, exclude_ids=range(VOCAB))


def test_masking_stats_accumulate_over_batches():
    ids, special, attention = synthetic_batch(4, 32)
    first, second = run_mask(ids, special, attention), run_mask(ids, special, attention, seed=1)
    total = MaskingStats().add(first).add(second).as_dict()
    one, two = masking_stats(first), masking_stats(second)
    for key in ("n_maskable", "n_picked", "n_mask", "n_random", "n_kept"):
        assert total[key] == one[key] + two[key]
    assert one["n_maskable"] == int((~special & attention.bool()).sum())


def test_empty_sequence_is_rejected():
    with pytest.raises(InvalidInputError):
        mask_tokens(torch.zeros((2, 0), dtype=torch.long), mask_token_id=MASK_ID, vocab_size=VOCAB)


def test_bert_split_over_many_small_draws_of_one_sentence():
    """The pipeline's case: one short row masked many times, each draw on its own."""
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, (1, 12))
    total = MaskingStats()
    for seed in range(400):  # 400 * 12 = 4,800 tokens, ~720 picked
        total.add(run_mask(ids, seed=seed))
    stats = total.as_dict()
    assert stats["n_maskable"] == 4800
    assert abs(stats["picked_fraction"] - 0.15) < 0.025  # sd 0.005
    assert abs(stats["mask_fraction"] - 0.8) < 0.06  # sd 0.015
    assert abs(stats["random_fraction"] - 0.1) < 0.045  # sd 0.011
    assert abs(stats["kept_fraction"] - 0.1) < 0.045


def test_whole_word_picks_at_the_word_rate_not_the_token_rate():
    # 20 words of 4 pieces each: picking words at 15% picks ~15% of tokens, in runs of 4
    word_ids = torch.arange(20).repeat_interleave(4)[None].repeat(500, 1)  # (500, 80)
    ids = torch.randint(len(SPECIAL_IDS), VOCAB, word_ids.shape)
    out = run_mask(ids, word_ids=word_ids)
    picked = (out.action != NOT_PICKED).view(500, 20, 4)
    assert (picked.all(-1) | ~picked.any(-1)).all()
    assert abs(float(picked.float().mean()) - 0.15) < 0.015  # 10,000 word draws: sd 0.0036


def test_require_mask_token():
    class WithMask:
        mask_token_id = 7

    class NoMask:
        mask_token_id = None

    assert require_mask_token(WithMask()) == 7
    with pytest.raises(WrongModelKindError) as info:
        require_mask_token(NoMask())
    assert "no mask token" in info.value.message
