"""Tests for plmkit.lm.metrics on the tiny random models of tests/conftest.py: perplexity is
exp of the mean next-token cross-entropy, masked-token accuracy counts what it says on a
hand-made batch, pseudo-perplexity masks every token exactly once."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertForMaskedLM, GPT2LMHeadModel

from plmkit.errors import InvalidInputError
from plmkit.lm.collator import MlmCollator
from plmkit.lm.masking import IGNORE_INDEX
from plmkit.lm.metrics import masked_lm_metrics, masked_logits, perplexity, pseudo_perplexity

TEXTS = ["the cat sat on the mat .", "this movie was good .", "a tedious mess"]


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_dir):
    return GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()


@pytest.fixture(scope="module")
def bert(tiny_bert_mlm_dir):
    model = BertForMaskedLM.from_pretrained(tiny_bert_mlm_dir).eval()
    return model, AutoTokenizer.from_pretrained(tiny_bert_mlm_dir)


def one_word_blocks(tokenizer, word: str, n_blocks: int = 8, length: int = 16) -> list[dict]:
    """Blocks `[CLS] word word ... [SEP]`, as `PackedDataset(task="mlm")` items."""
    token = tokenizer.convert_tokens_to_ids(word)
    ids = torch.full((length,), token)
    ids[0], ids[-1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    special = torch.zeros(length, dtype=torch.bool)
    special[[0, -1]] = True
    item = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "special_tokens_mask": special,
    }
    return [dict(item) for _ in range(n_blocks)]


def test_perplexity_is_exp_of_mean_next_token_cross_entropy(gpt2):
    blocks = torch.randint(
        0, gpt2.config.vocab_size, (5, 12), generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        logits = gpt2(input_ids=blocks).logits  # (N, L, V)
    mean = float(F.cross_entropy(logits[:, :-1].flatten(0, 1), blocks[:, 1:].flatten()))
    gpt2.train()
    result = perplexity(gpt2, blocks, batch_size=2)  # batches of 2, 2, 1 blocks
    assert gpt2.training, "the model's training mode is restored"
    gpt2.eval()
    assert result["n_tokens"] == 5 * 11 and result["n_blocks"] == 5
    assert result["loss"] == pytest.approx(mean, abs=1e-4)
    assert result["perplexity"] == pytest.approx(math.exp(mean), rel=1e-4)
    assert perplexity(gpt2, blocks, batch_size=5)["perplexity"] == pytest.approx(
        result["perplexity"], rel=1e-5
    )


def test_perplexity_of_uniform_logits_is_the_vocabulary_size(tiny_gpt2_dir):
    model = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()  # every logit 0: uniform over V
    blocks = torch.randint(0, model.config.vocab_size, (3, 10))
    result = perplexity(model, blocks)
    assert result["perplexity"] == pytest.approx(model.config.vocab_size, rel=1e-4)
    assert result["loss"] == pytest.approx(math.log(model.config.vocab_size), abs=1e-4)


def test_masked_logits_equal_the_full_head_at_the_picked_positions(bert):
    model, tokenizer = bert
    batch = MlmCollator(tokenizer, mlm_probability=0.4, seed=0)(
        [dict(tokenizer(text)) for text in TEXTS]
    )
    logits, targets = masked_logits(model, batch)
    picked = batch["labels"] != IGNORE_INDEX
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        full = model(**inputs).logits  # (B, T, V)
    assert logits.shape == (int(picked.sum()), model.config.vocab_size)
    assert torch.equal(targets, batch["labels"][picked])
    torch.testing.assert_close(logits.detach(), full[picked], rtol=1e-4, atol=1e-5)


def test_masked_token_accuracy_on_a_hand_made_batch(bert, tiny_bert_mlm_dir):
    _, tokenizer = bert
    model = BertForMaskedLM.from_pretrained(tiny_bert_mlm_dir).eval()
    cat = tokenizer.convert_tokens_to_ids("cat")
    with torch.no_grad():
        model.get_output_embeddings().bias[cat] = 1e4  # the model now always answers "cat"
    right = masked_lm_metrics(model, one_word_blocks(tokenizer, "cat"), tokenizer, seed=0)
    wrong = masked_lm_metrics(model, one_word_blocks(tokenizer, "dog"), tokenizer, seed=0)
    assert right["n_predicted"] == wrong["n_predicted"] > 5  # same seed, same positions
    assert right["n_predicted"] == right["masking"]["n_picked"]
    assert right["n_blocks"] == 8
    assert right["accuracy"] == 1.0 and right["mask_token_accuracy"] == 1.0
    assert right["loss"] == pytest.approx(0.0, abs=1e-3)
    assert wrong["accuracy"] == 0.0 and wrong["mask_token_accuracy"] == 0.0
    assert wrong["loss"] > 1000  # about 1e4 nats for each missed token


def test_masked_token_accuracy_counts_argmax_hits_over_picked_tokens(bert):
    model, tokenizer = bert
    dataset = one_word_blocks(tokenizer, "movie") + one_word_blocks(tokenizer, "the")
    result = masked_lm_metrics(model, dataset, tokenizer, seed=3, batch_size=len(dataset))
    batch = MlmCollator(tokenizer, seed=3)(dataset)  # the same seed and batch: the same masks
    picked = batch["labels"] != IGNORE_INDEX
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    hits = logits[picked].argmax(-1) == batch["labels"][picked]
    shown_mask = batch["input_ids"][picked] == tokenizer.mask_token_id
    assert result["n_predicted"] == int(picked.sum())
    assert result["accuracy"] == pytest.approx(float(hits.float().mean()), abs=1e-4)
    assert result["mask_token_accuracy"] == pytest.approx(
        float(hits[shown_mask].float().mean()), abs=1e-4
    )
    expected_loss = float(F.cross_entropy(logits[picked], batch["labels"][picked]))
    assert result["loss"] == pytest.approx(expected_loss, abs=1e-3)


def test_pseudo_perplexity_masks_each_token_exactly_once(bert):
    model, tokenizer = bert
    seen: list[tuple[tuple[int, ...], int]] = []

    def record(module, args, kwargs, output):
        for ids, mask in zip(kwargs["input_ids"], kwargs["attention_mask"], strict=True):
            row = ids[mask.bool()].tolist()
            positions = [i for i, t in enumerate(row) if t == tokenizer.mask_token_id]
            assert len(positions) == 1, "one [MASK] per scored row"
            seen.append((tuple(row), positions[0]))

    expected, log_probs = [], []
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]
        for i in range(1, len(ids) - 1):  # every token but [CLS] and [SEP]
            masked = list(ids)
            masked[i] = tokenizer.mask_token_id
            expected.append((tuple(masked), i))
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([masked])).logits[0, i]
            log_probs.append(float(logits.log_softmax(-1)[ids[i]]))
    mean_nll = -sum(log_probs) / len(log_probs)

    hook = model.base_model.register_forward_hook(record, with_kwargs=True)
    try:
        result = pseudo_perplexity(model, tokenizer, TEXTS, batch_size=4)
    finally:
        hook.remove()
    assert sorted(seen) == sorted(expected)
    assert result["n_tokens"] == len(expected) and result["n_texts"] == len(TEXTS)
    assert result["mean_negative_log_likelihood"] == pytest.approx(mean_nll, abs=1e-4)
    assert result["pseudo_perplexity"] == pytest.approx(math.exp(mean_nll), rel=1e-4)


def test_pseudo_perplexity_rejects_empty_text(bert):
    model, tokenizer = bert
    with pytest.raises(InvalidInputError):
        pseudo_perplexity(model, tokenizer, ["fine", "  "])
