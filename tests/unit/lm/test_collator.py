"""Tests for plmkit.lm.collator: padding, whole WordPiece words, seeds, DataLoader workers."""

from __future__ import annotations

import pytest
import torch

from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.lm.collator import MlmCollator
from plmkit.lm.masking import IGNORE_INDEX

WORDY_TEXTS = [
    "Unbelievably, the tokenization of hyperparameters is uncharacteristically tricky.",
    "Photosynthesis and thermodynamics were misunderstood by the philosophers.",
    "The electroencephalography recordings were incomprehensible.",
]


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
    with pytest.raises(InvalidInputError):
        MlmCollator(bert_tokenizer, mlm_probability=2.0)
    with pytest.raises(InvalidInputError):
        MlmCollator(bert_tokenizer)([])


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
