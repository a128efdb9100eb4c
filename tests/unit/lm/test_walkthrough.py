"""Tests for plmkit.lm.walkthrough: one text masked once, reported token by token."""

from __future__ import annotations

import pytest

from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.lm.walkthrough import mask_one_text


def test_mask_one_text_is_deterministic_and_shows_what_happened(bert_tokenizer):
    text = "The philosophers misunderstood thermodynamics completely."
    tokens = mask_one_text(text, bert_tokenizer, seed=5)
    assert tokens == mask_one_text(text, bert_tokenizer, seed=5)
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
        seed for seed in range(20) if mask_one_text(text, bert_tokenizer, seed=seed) != tokens
    }
    assert seeds_with_changes, "different seeds should give different demos"


def test_mask_one_text_picks_at_least_one_token_on_short_text(bert_tokenizer):
    for seed in range(30):
        tokens = mask_one_text("Hi.", bert_tokenizer, seed=seed, mlm_probability=0.01)
        assert sum(t.action != "-" for t in tokens) >= 1
    whole = mask_one_text(
        "Unbelievably", bert_tokenizer, seed=0, mlm_probability=0.01, whole_word=True
    )
    assert all(t.action != "-" for t in whole[1:-1]), "the one word is picked whole"
    with pytest.raises(InvalidInputError):
        mask_one_text("   ", bert_tokenizer)


def test_mask_one_text_rejects_a_tokenizer_without_mask_token():
    class NoMask:
        mask_token_id = None

    with pytest.raises(WrongModelKindError):
        mask_one_text("hello world", NoMask())
