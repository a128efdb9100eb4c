"""pipelines/explain.py: integrated gradients on a tiny fine-tuned classifier."""

import pytest
import torch

from plmkit import loading
from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.pipelines.classify import classify
from plmkit.pipelines.explain import explain

TEXT = "great fun the movie was ."


def logit_of(model: str, ids: list[int], target: int) -> float:
    """The target logit, from a model loaded afresh (not the pipeline's cached one)."""
    net = loading.load_classifier(model)
    with torch.no_grad():
        return float(net(input_ids=torch.tensor([ids])).logits[0, target])


def test_attributions_sum_to_the_output_difference_within_the_delta(tiny_classifier_dir):
    model = str(tiny_classifier_dir)
    found = explain(TEXT, model, steps=64)
    tokenizer = loading.load_tokenizer(model)
    encoding = tokenizer(TEXT, return_special_tokens_mask=True)
    ids = encoding["input_ids"]
    baseline = [
        i if special else tokenizer.pad_token_id
        for i, special in zip(ids, encoding["special_tokens_mask"], strict=True)
    ]
    target = ["negative", "positive"].index(found.label)
    difference = logit_of(model, ids, target) - logit_of(model, baseline, target)
    total = sum(found.attributions)
    # completeness: sum = f(x) - f(baseline) + delta, the delta being Captum's own report
    assert abs(total - difference - found.delta) < 1e-4
    assert abs(total - difference) <= abs(found.delta) + 1e-4
    assert abs(found.delta) < 0.05 * abs(difference)  # 64 steps integrate this closely
    assert found.logit == pytest.approx(logit_of(model, ids, target), abs=1e-5)
    assert found.baseline_token == "[PAD]"


def test_tokens_labels_and_probabilities_match_classify(tiny_classifier_dir):
    model = str(tiny_classifier_dir)
    found = explain(TEXT, model)
    predicted = classify(TEXT, model, backend="torch")[0]
    assert found.label == found.predicted == predicted.label == "positive"
    for name, p in predicted.probabilities.items():
        assert found.probabilities[name] == pytest.approx(p, abs=1e-4)
    assert found.tokens[0] == "[CLS]" and found.tokens[-1] == "[SEP]"
    assert found.special == [True] + [False] * (len(found.tokens) - 2) + [True]
    assert found.attributions[0] == 0 and found.attributions[-1] == 0  # kept in the baseline
    assert len(found.attributions) == len(found.tokens) and found.steps == 32
    assert not found.truncated


def test_a_chosen_label_several_texts_and_truncation(tiny_classifier_dir):
    model = str(tiny_classifier_dir)
    negative, positive = explain([TEXT, "tedious dull mess"], model, label="negative", steps=8)
    assert negative.label == positive.label == "negative"
    assert negative.predicted == "positive"
    short = explain("great " * 40, model, max_tokens=10, steps=4)
    assert short.truncated and len(short.tokens) == 10 and short.tokens[-1] == "[SEP]"


def test_bad_requests_name_the_fix(tiny_classifier_dir, tiny_bert_dir):
    model = str(tiny_classifier_dir)
    with pytest.raises(InvalidInputError, match="steps must be between 1 and 256"):
        explain(TEXT, model, steps=1000)
    with pytest.raises(InvalidInputError, match="max_tokens"):
        explain(TEXT, model, max_tokens=0)
    with pytest.raises(InvalidInputError, match="'neutral' is not one of"):
        explain(TEXT, model, label="neutral")
    with pytest.raises(WrongModelKindError, match="not a fine-tuned classifier"):
        explain(TEXT, str(tiny_bert_dir))
