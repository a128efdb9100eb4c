"""Sampling values out of range and fields plmkit does not do are refused by name."""

from __future__ import annotations

import pytest

from plmkit.serve.schemas import ChatMessage, ChatRequest, CompletionRequest


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.01}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logprobs": 21}, "logprobs"),
    ],
)
def test_bad_sampling_values_are_422_naming_the_field(client, extra, param):
    response = client.post("/v1/completions", json={"prompt": "the cat", **extra})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"n": 2}, "n"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logit_bias": {"50": 10}}, "logit_bias"),
        ({"backend": "onnx-int8"}, "backend"),
        ({"echo": True}, "echo"),
    ],
)
def test_what_plmkit_does_not_do_is_400_naming_the_field(client, extra, param):
    response = client.post("/v1/completions", json={"prompt": "the cat", **extra})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["code"] == "unsupported_parameter"


def test_chat_refuses_tools_and_top_logprobs_without_logprobs(client):
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    tools = client.post("/v1/chat/completions", json={**chat, "tools": [{"type": "function"}]})
    assert tools.status_code == 400 and tools.json()["error"]["param"] == "tools"
    top = client.post("/v1/chat/completions", json={**chat, "top_logprobs": 2})
    assert top.status_code == 400 and top.json()["error"]["param"] == "top_logprobs"


def test_neutral_values_pass():
    body = CompletionRequest(prompt="x", n=1, presence_penalty=0, logit_bias={}, echo=False)
    body.check()
    assert body.stops() == [] and body.new_tokens() is None


def test_max_completion_tokens_wins_and_content_parts_join():
    body = ChatRequest(
        messages=[{"role": "developer", "content": [{"type": "text", "text": "be brief"}]}],
        max_tokens=10,
        max_completion_tokens=3,
    )
    assert body.new_tokens() == 3
    assert body.messages[0].as_dict() == {"role": "system", "content": "be brief"}
    assert ChatMessage(role="user", content="hi").as_dict() == {"role": "user", "content": "hi"}
