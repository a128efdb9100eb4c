"""Batched generation equals generation alone (greedy tokens), per row: its own budget, stop
strings, text stream and failure."""

from __future__ import annotations

import pytest

from plmkit.config import GenerateConfig
from plmkit.errors import InvalidInputError
from plmkit.pipelines.generate import generate
from plmkit.pipelines.generate_batch import BatchRequest, batch_key, generate_batch

PROMPTS = ["the cat sat on", "a", "once upon a time there was a queen who"]


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_llama_dir"])
def test_greedy_batch_equals_each_request_alone(fixture, request):
    model = str(request.getfixturevalue(fixture))
    configs = [GenerateConfig(max_new_tokens=n) for n in (12, 5, 9)]
    streamed: list[list[str]] = [[], [], []]
    batch = [
        BatchRequest(p, c, streamed[i].append)
        for i, (p, c) in enumerate(zip(PROMPTS, configs, strict=True))
    ]
    results = generate_batch(batch, model, backend="torch-fp32")
    for prompt, config, result, pieces in zip(PROMPTS, configs, results, streamed, strict=True):
        alone = generate(prompt, model, config, backend="torch-fp32")
        assert (result.text, result.new_tokens) == (alone.text, alone.new_tokens)
        assert result.finish_reason == alone.finish_reason
        assert result.prompt_tokens == alone.prompt_tokens
        assert "".join(pieces) == result.text
        assert result.first_token_seconds is not None


def test_chat_messages_and_stop_strings_per_row(tiny_llama_dir):
    model = str(tiny_llama_dir)
    alone = generate("hello there", model, GenerateConfig(max_new_tokens=10), backend="torch-fp32")
    stop = alone.text.strip().split(" ")[0][:2] or alone.text[:1]
    messages = [{"role": "user", "content": "hi"}]
    configs = [GenerateConfig(max_new_tokens=10, stop=[stop]), GenerateConfig(max_new_tokens=6)]
    batch = [BatchRequest("hello there", configs[0]), BatchRequest(messages, configs[1])]
    cut, chat = generate_batch(batch, model, backend="torch-fp32")
    assert cut.finish_reason == "stop" and stop not in cut.text
    assert cut.text == generate("hello there", model, configs[0], backend="torch-fp32").text
    assert chat.text == generate(messages, model, configs[1], backend="torch-fp32").text


def test_a_failing_row_stops_alone(tiny_gpt2_dir):
    model = str(tiny_gpt2_dir)

    def leave(_: str) -> None:
        raise ConnectionError("client gone")

    config = GenerateConfig(max_new_tokens=8)
    batch = [
        BatchRequest("the cat", config, leave),
        BatchRequest("word " * 200, config),  # past the tiny GPT-2's 128 positions
        BatchRequest("the dog", config),
    ]
    gone, too_long, fine = generate_batch(batch, model, backend="torch-fp32")
    assert isinstance(gone, ConnectionError)
    assert isinstance(too_long, InvalidInputError) and "128" in str(too_long)
    assert fine.text == generate("the dog", model, config, backend="torch-fp32").text


def test_batch_keys():
    assert batch_key(GenerateConfig()) == batch_key(GenerateConfig(max_new_tokens=3, stop=["."]))
    assert batch_key(GenerateConfig(strategy="beam")) is None
    assert batch_key(GenerateConfig(strategy="sample", seed=1)) is None
    sample = GenerateConfig(strategy="sample", temperature=0.7)
    assert batch_key(sample) not in (None, batch_key(GenerateConfig()))
    with pytest.raises(ValueError, match="batch_key"):
        generate_batch([BatchRequest("a", GenerateConfig()), BatchRequest("b", sample)], "x")
