"""The official `openai` package, unchanged, against a real uvicorn server on loopback:
embeddings (float and base64), completions, chat, streaming with usage, logprobs, and its
errors for what the server refuses."""

from __future__ import annotations

import numpy as np
import pytest

openai = pytest.importorskip("openai")

KEY = "test-key"


@pytest.fixture(scope="module")
def server(models, real_server_with):
    with real_server_with(models, api_key=KEY) as (base, _):
        yield base


@pytest.fixture(scope="module")
def api(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=60)


def test_models_list(api, models):
    served = [m.id for m in api.models.list()]
    assert served == [*models["encoders"], *models["generators"], *models["classifiers"]]


def test_embeddings_float_and_base64_agree(api, models):
    encoder = models["encoders"][0]
    texts = ["the cat sat", "a dog"]
    as_float = api.embeddings.create(model=encoder, input=texts, encoding_format="float")
    as_base64 = api.embeddings.create(model=encoder, input=texts)  # the client asks base64
    assert [d.index for d in as_float.data] == [0, 1] and len(as_float.data[0].embedding) == 32
    for plain, packed in zip(as_float.data, as_base64.data, strict=True):
        np.testing.assert_allclose(plain.embedding, packed.embedding, rtol=1e-6)
    assert as_float.usage.prompt_tokens == 5 + 4


def test_dimensions_is_refused_clearly(api, models):
    with pytest.raises(openai.BadRequestError) as refused:
        api.embeddings.create(model=models["encoders"][0], input="x", dimensions=8)
    assert refused.value.body["param"] == "dimensions"


def test_completion_and_its_stream(api, models):
    gpt2 = models["generators"][0]
    whole = api.completions.create(model=gpt2, prompt="the cat", max_tokens=6, seed=1)
    assert whole.choices[0].finish_reason in {"stop", "length"}
    assert whole.usage.completion_tokens <= 6
    chunks = list(
        api.completions.create(
            model=gpt2,
            prompt="the cat",
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_completion_logprobs(api, models):
    answer = api.completions.create(
        model=models["generators"][0], prompt="the cat", max_tokens=3, logprobs=2
    )
    logprobs = answer.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.text_offset)


def test_chat_whole_streamed_with_usage_and_logprobs(api, models):
    llama = models["generators"][1]
    messages = [{"role": "user", "content": "hi"}]
    whole = api.chat.completions.create(
        model=llama, messages=messages, max_completion_tokens=5, temperature=0, top_p=1
    )
    assert whole.choices[0].message.role == "assistant"
    stream = api.chat.completions.create(
        model=llama,
        messages=messages,
        max_completion_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens
    scored = api.chat.completions.create(
        model=llama, messages=messages, max_tokens=3, logprobs=True, top_logprobs=2
    )
    for token in scored.choices[0].logprobs.content:
        assert token.logprob <= 0 and len(token.top_logprobs) == 2


def test_the_clients_errors(api, server, models):
    llama = models["generators"][1]
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as many:
        api.chat.completions.create(model=llama, messages=messages, n=2)
    assert many.value.body["param"] == "n"
    with pytest.raises(openai.UnprocessableEntityError) as hot:
        api.chat.completions.create(model=llama, messages=messages, temperature=-1)
    assert hot.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="gpt-4o", messages=messages)
    stranger = openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
