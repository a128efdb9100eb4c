"""A completion's token log-probabilities, as OpenAI's logprobs report them."""

from __future__ import annotations

import math

from plmkit.pipelines.logprobs import completion_logprobs


def test_each_token_scored_in_place_with_its_alternatives(tiny_gpt2_dir):
    model = str(tiny_gpt2_dir)
    scored = completion_logprobs("the cat", " sat on the mat .", model, top=3)
    assert "".join(t.token for t in scored) == " sat on the mat ."
    assert [t.offset for t in scored] == [
        sum(len(s.token) for s in scored[:i]) for i in range(len(scored))
    ]
    for token in scored:
        assert token.logprob <= 0 and len(token.top) == 3
        values = [v for _, v in token.top]
        assert values == sorted(values, reverse=True) and token.logprob <= values[0] + 1e-6


def test_the_likeliest_token_scores_its_top_value(tiny_gpt2_dir):
    model = str(tiny_gpt2_dir)
    first = completion_logprobs("the cat", " sat", model, top=1)[0]
    best_text, best_value = first.top[0]
    again = completion_logprobs("the cat", best_text, model)[0]
    assert math.isclose(again.logprob, best_value, abs_tol=1e-5)


def test_chat_messages_and_an_empty_completion(tiny_llama_dir):
    model = str(tiny_llama_dir)
    messages = [{"role": "user", "content": "hi"}]
    assert completion_logprobs(messages, "", model) == []
    assert completion_logprobs(messages, " the cat", model)[0].logprob < 0
