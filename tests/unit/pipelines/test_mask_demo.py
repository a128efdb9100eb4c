"""pipelines/mask_demo.py: one seeded draw shown token by token, the split measured."""

import pytest

from plmkit.errors import InvalidInputError
from plmkit.pipelines.mask_demo import mask_demo
from plmkit.pipelines.tokenize import tokenize

TEXT = "the cat sat on the mat and the dog sat on the rug"


def test_one_draw_covers_every_token_and_is_seeded(tiny_bert_dir):
    result = mask_demo(TEXT, str(tiny_bert_dir), seed=1, repeats=50)
    assert [t.token for t in result.tokens] == tokenize(TEXT, str(tiny_bert_dir)).tokens
    assert any(t.action != "-" for t in result.tokens)  # something is always picked
    for t in result.tokens:
        if t.action == "mask":
            assert t.shown == "[MASK]"
        if t.action in {"-", "keep"}:
            assert t.shown == t.token
    assert mask_demo(TEXT, str(tiny_bert_dir), seed=1, repeats=50) == result


def test_many_draws_measure_bert_split(tiny_bert_dir):
    result = mask_demo(TEXT, str(tiny_bert_dir), repeats=2000)
    measured = result.measured
    assert result.repeats == 2000
    tokens = tokenize(TEXT, str(tiny_bert_dir))
    maskable = len(tokens.tokens) - len(tokens.special_positions)  # never [CLS] / [SEP]
    assert measured["n_maskable"] == 2000 * maskable
    assert measured["picked_fraction"] == pytest.approx(0.15, abs=0.01)
    assert measured["mask_fraction"] == pytest.approx(0.8, abs=0.03)
    assert measured["random_fraction"] == pytest.approx(0.1, abs=0.03)
    higher = mask_demo(TEXT, str(tiny_bert_dir), mlm_probability=0.4, repeats=2000)
    assert higher.measured["picked_fraction"] == pytest.approx(0.4, abs=0.02)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"mlm_probability": 0}, "mlm_probability"), ({"repeats": 0}, "repeats must be > 0")],
)
def test_bad_arguments(tiny_bert_dir, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        mask_demo(TEXT, str(tiny_bert_dir), **kwargs)
    with pytest.raises(InvalidInputError, match="empty text"):
        mask_demo(" ", str(tiny_bert_dir))
