"""Labels scored by their log-likelihood as a chat decoder's answer."""

from __future__ import annotations

import numpy as np
import pytest

from plmkit.errors import PlmError, WrongModelKindError
from plmkit.pipelines.label_scoring import LabelScorer, check_template

TEXTS = ["the movie was good", "a tedious mess", "the best film ever", "boring", "once upon"]
LABELS = ["very good", "awful mess", "dull"]  # several tokens each in the tiny BPE


def _reference(scorer: LabelScorer, text: str, answer: list[int]) -> float:
    """The answer's log-likelihood from one plain forward pass over the whole sequence."""
    import torch

    row = scorer.tokenizer(text + scorer.suffix, add_special_tokens=False)["input_ids"]
    ids = scorer.prefix_ids + row + answer
    with torch.inference_mode():
        logprobs = scorer.lm(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
    start = len(ids) - len(answer)
    return float(sum(logprobs[start - 1 + j, t] for j, t in enumerate(answer)))


def test_every_text_gets_a_label_and_scores_match_a_plain_forward(tiny_llama_dir):
    examples = [("good film", "very good"), ("dull plot", "dull")]  # a longer cached prefix
    scorer = LabelScorer(str(tiny_llama_dir), LABELS, batch_size=2, examples=examples)
    assert all(len(answer) > 2 for answer in scorer.answer_ids)  # label tokens + end of turn
    result = scorer.score(TEXTS)
    assert result.scores.shape == (len(TEXTS), len(LABELS))
    assert all(0 <= p < len(LABELS) for p in result.predictions)
    assert np.all(result.scores < 0)
    for i, text in enumerate(TEXTS):  # padding and the reused prefix cache change nothing
        for k, answer in enumerate(scorer.answer_ids):
            assert result.scores[i, k] == pytest.approx(_reference(scorer, text, answer), abs=1e-3)
    assert result.prompt_tokens == len(scorer.prefix_ids)


def test_all_labels_in_one_batched_forward_pass(tiny_llama_dir):
    scorer = LabelScorer(str(tiny_llama_dir), LABELS, batch_size=8)
    calls = []
    hook = scorer.lm.base_model.register_forward_hook(
        lambda module, args, kwargs, output: calls.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True,
    )
    try:
        result = scorer.score(TEXTS)
    finally:
        hook.remove()
    # the shared prefix once, then one pass holding every (text, label) row
    assert calls == [1, len(TEXTS) * len(LABELS)]
    assert result.forward_calls == 2


def test_few_shot_examples_lengthen_the_shared_prompt(tiny_llama_dir):
    zero = LabelScorer(str(tiny_llama_dir), LABELS)
    few = LabelScorer(str(tiny_llama_dir), LABELS, examples=[("good film", "very good")] * 2)
    assert few.score(TEXTS[:2]).prompt_tokens > zero.score(TEXTS[:2]).prompt_tokens


def test_bad_templates_and_labels(tiny_llama_dir, tiny_gpt2_dir):
    with pytest.raises(PlmError, match=r"\{labels\}"):
        check_template("Sentiment of: {text}")
    with pytest.raises(PlmError, match=r"\{text\}"):
        LabelScorer(str(tiny_llama_dir), LABELS, template="Pick one of {labels}")
    with pytest.raises(PlmError, match="not one of"):
        LabelScorer(str(tiny_llama_dir), LABELS, examples=[("good", "great")])
    with pytest.raises(PlmError, match="twice"):
        LabelScorer(str(tiny_llama_dir), ["dull", "dull"])
    with pytest.raises(WrongModelKindError, match="chat template"):
        LabelScorer(str(tiny_gpt2_dir), LABELS)
