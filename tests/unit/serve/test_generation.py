"""/v1/completions and /v1/chat/completions in OpenAI's shapes, whole and streamed."""

from __future__ import annotations

import json

import pytest


def events(response) -> list:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [part[6:] for part in response.text.split("\n\n") if part.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.fixture(scope="module")
def gpt2(models):
    return models["generators"][0]


@pytest.fixture(scope="module")
def llama(models):
    return models["generators"][1]


def test_completion_whole(client, gpt2):
    body = client.post(
        "/v1/completions", json={"model": gpt2, "prompt": "the cat", "max_tokens": 4}
    )
    answer = body.json()
    assert answer["object"] == "text_completion" and answer["model"] == gpt2
    choice = answer["choices"][0]
    assert choice["index"] == 0 and choice["logprobs"] is None
    assert choice["finish_reason"] in {"stop", "length"}
    usage = answer["usage"]
    assert usage["completion_tokens"] <= 4 and usage["prompt_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_beyond_the_context_is_capped_with_length(client, gpt2):
    request = {"model": gpt2, "prompt": "the cat", "max_tokens": 1_000_000_000}
    answer = client.post("/v1/completions", json=request).json()
    assert answer["choices"][0]["finish_reason"] in {"length", "stop"}
    assert answer["usage"]["total_tokens"] <= 128


def test_stream_matches_whole_and_ends_with_usage_when_asked(client, gpt2):
    request = {"model": gpt2, "prompt": "the cat", "max_tokens": 8}
    whole = client.post("/v1/completions", json=request).json()
    streamed = events(client.post("/v1/completions", json={**request, "stream": True}))
    assert "".join(e["choices"][0]["text"] for e in streamed) == whole["choices"][0]["text"]
    assert streamed[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert all("usage" not in e for e in streamed)
    options = {"stream": True, "stream_options": {"include_usage": True}}
    with_usage = events(client.post("/v1/completions", json={**request, **options}))
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"] == whole["usage"]


def test_chat_whole_and_streamed(client, llama):
    request = {"model": llama, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    answer = client.post("/v1/chat/completions", json=request).json()
    assert answer["object"] == "chat.completion"
    message = answer["choices"][0]["message"]
    assert message["role"] == "assistant"
    options = {"stream": True, "stream_options": {"include_usage": True}}
    streamed = events(client.post("/v1/chat/completions", json={**request, **options}))
    assert streamed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(e["object"] == "chat.completion.chunk" for e in streamed)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in streamed[:-1])
    assert text == message["content"]
    assert streamed[-2]["choices"][0]["finish_reason"] == answer["choices"][0]["finish_reason"]
    assert streamed[-1]["choices"] == [] and streamed[-1]["usage"] == answer["usage"]


def test_max_completion_tokens_and_stop(client, gpt2):
    request = {"model": gpt2, "prompt": "the cat", "max_tokens": 12}
    free = client.post("/v1/completions", json=request).json()["choices"][0]["text"]
    capped = client.post("/v1/completions", json={**request, "max_tokens": 2}).json()
    assert capped["usage"]["completion_tokens"] <= 2
    if len(free) > 3:  # stop at a piece of the free text: it is cut there, finish 'stop'
        stop = free[2:4]
        cut = client.post("/v1/completions", json={**request, "stop": [stop]}).json()
        assert cut["choices"][0]["text"] == free[: free.index(stop)]
        assert cut["choices"][0]["finish_reason"] == "stop"


def test_seeded_sampling_repeats(client, gpt2):
    request = {"model": gpt2, "prompt": "the", "max_tokens": 8, "temperature": 1.0, "top_p": 0.9}
    first = client.post("/v1/completions", json={**request, "seed": 7}).json()
    again = client.post("/v1/completions", json={**request, "seed": 7}).json()
    assert first["choices"][0]["text"] == again["choices"][0]["text"]


def test_completion_logprobs_in_openai_shape(client, gpt2):
    request = {"model": gpt2, "prompt": "the cat", "max_tokens": 5, "logprobs": 2}
    choice = client.post("/v1/completions", json=request).json()["choices"][0]
    logprobs = choice["logprobs"]
    assert set(logprobs) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
    assert "".join(logprobs["tokens"]) == choice["text"] or "\ufffd" in choice["text"]
    assert all(value <= 0 for value in logprobs["token_logprobs"])
    assert all(len(top) <= 2 for top in logprobs["top_logprobs"])


def test_chat_logprobs_in_openai_shape(client, llama):
    request = {
        "model": llama,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "logprobs": True,
        "top_logprobs": 3,
    }
    choice = client.post("/v1/chat/completions", json=request).json()["choices"][0]
    content = choice["logprobs"]["content"]
    for token in content:
        assert set(token) == {"token", "logprob", "bytes", "top_logprobs"}
        assert token["bytes"] == list(token["token"].encode())
        assert len(token["top_logprobs"]) == 3


def test_logprobs_with_stream_is_refused(client, gpt2):
    request = {"model": gpt2, "prompt": "x", "logprobs": 1, "stream": True}
    response = client.post("/v1/completions", json=request)
    assert response.status_code == 400 and response.json()["error"]["param"] == "logprobs"


def test_a_prompt_longer_than_the_context_is_400_even_streamed(client, gpt2):
    for stream in (False, True):
        request = {"model": gpt2, "prompt": "the cat sat " * 100, "stream": stream}
        response = client.post("/v1/completions", json=request)
        assert response.status_code == 400, response.text
        assert "context" in response.json()["error"]["message"]
