"""pipelines/fill_mask.py: ranked candidates per mask, from the MLM head."""

import pytest
import torch

from plmkit.errors import InvalidInputError
from plmkit.pipelines.fill_mask import fill_mask


def test_fill_mask_ranks_candidates(tiny_bert_mlm_dir):
    (candidates,) = fill_mask("the cat sat on the [MASK] .", str(tiny_bert_mlm_dir), top_k=3)
    assert len(candidates) == 3
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    assert candidates[0].sequence.startswith("the cat sat on the")


def test_fill_mask_two_masks(tiny_bert_mlm_dir):
    assert len(fill_mask("[MASK] cat sat on the [MASK] .", str(tiny_bert_mlm_dir))) == 2


def test_fill_mask_without_mask_token(tiny_bert_mlm_dir):
    with pytest.raises(InvalidInputError, match="no \\[MASK\\]"):
        fill_mask("the cat sat", str(tiny_bert_mlm_dir))


def test_fill_mask_scores_are_the_models_probabilities(tiny_bert_mlm_dir):
    """Candidates equal a direct forward pass: top tokens and softmax scores at the mask."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_mlm_dir)
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert_mlm_dir).eval()
    inputs = tokenizer("the cat sat on the [MASK] .", return_tensors="pt")
    position = (inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero().item()
    with torch.no_grad():
        probs = model(**inputs).logits[0, position].softmax(-1)  # (V,)
    expected = probs.topk(4)
    (candidates,) = fill_mask("the cat sat on the [MASK] .", str(tiny_bert_mlm_dir), top_k=4)
    assert [c.token_id for c in candidates] == expected.indices.tolist()
    assert [c.score for c in candidates] == pytest.approx(expected.values.tolist(), abs=1e-5)
    best = tokenizer.convert_ids_to_tokens(candidates[0].token_id)
    assert candidates[0].token == best
    assert candidates[0].sequence == tokenizer.decode(
        inputs["input_ids"][0]
        .clone()
        .index_fill_(0, torch.tensor([position]), candidates[0].token_id),
        skip_special_tokens=True,
    )
