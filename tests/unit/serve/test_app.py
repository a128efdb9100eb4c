"""The HTTP API on tiny models, through FastAPI's in-process TestClient."""

import json

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from plmkit.serve.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def test_page_and_health(client):
    assert client.get("/health").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "/v1/chat/completions" in page.text


def test_models(client):
    ids = {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert {"minilm", "smollm2"} <= ids


def test_embeddings_openai_shape(client, tiny_bert_dir):
    body = client.post(
        "/v1/embeddings", json={"model": str(tiny_bert_dir), "input": ["the cat", "a dog"]}
    ).json()
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == 32
    assert body["usage"]["prompt_tokens"] == 4 + 4


def test_backend_per_request_and_server_default(client, tiny_bert_dir, tiny_classifier_dir):
    def embed(test_client, **extra):
        body = {"model": str(tiny_bert_dir), "input": ["the cat", "a dog"], **extra}
        response = test_client.post("/v1/embeddings", json=body)
        assert response.status_code == 200, response.text
        return [d["embedding"] for d in response.json()["data"]]

    fp32 = embed(client, backend="torch-fp32")
    assert embed(client, backend="fp32") == fp32  # aliases work
    bf16 = embed(client, backend="torch-bf16")
    assert bf16 != fp32 and max(abs(a - b) for a, b in zip(bf16[0], fp32[0], strict=True)) < 0.1
    with TestClient(create_app(backend="torch-bf16")) as bf16_server:
        assert embed(bf16_server) == bf16  # no backend in the request: the server's
    body = {"model": str(tiny_classifier_dir), "input": ["great fun", "dull", "fine"]}
    answers = {
        name: client.post("/v1/classify", json={**body, "backend": name}).json()["data"]
        for name in ("torch", "torch-fp32", "auto")
    }
    assert answers["torch"] == answers["torch-fp32"]  # in-memory model = fp32 backend
    assert [a["text"] for a in answers["auto"]] == body["input"]  # input order kept
    assert {a["label"] for a in answers["auto"]} <= {"negative", "positive"}


def test_completion(client, tiny_gpt2_dir):
    body = client.post(
        "/v1/completions", json={"model": str(tiny_gpt2_dir), "prompt": "the cat", "max_tokens": 4}
    ).json()
    assert body["object"] == "text_completion"
    assert body["usage"]["completion_tokens"] <= 4
    assert body["choices"][0]["finish_reason"] in {"stop", "length"}


def _events(response) -> list:
    lines = [
        line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")
    ]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_completion_stream_matches_non_stream(client, tiny_gpt2_dir):
    request = {"model": str(tiny_gpt2_dir), "prompt": "the cat", "max_tokens": 8}
    whole = client.post("/v1/completions", json=request).json()["choices"][0]["text"]
    events = _events(client.post("/v1/completions", json={**request, "stream": True}))
    assert "".join(e["choices"][0]["text"] for e in events) == whole
    assert events[-1]["choices"][0]["finish_reason"] in {"stop", "length"}


def test_chat_completion_and_stream(client, tiny_llama_dir):
    request = {
        "model": str(tiny_llama_dir),
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
    }
    body = client.post("/v1/chat/completions", json=request).json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    events = _events(client.post("/v1/chat/completions", json={**request, "stream": True}))
    text = "".join(e["choices"][0]["delta"]["content"] for e in events)
    assert text == body["choices"][0]["message"]["content"]


def test_tokenize_fill_mask_and_mask_demo(client, tiny_bert_mlm_dir):
    model = str(tiny_bert_mlm_dir)
    assert (
        client.post("/v1/tokenize", json={"model": model, "text": "the cat"}).json()["tokens"][0]
        == "[CLS]"
    )
    masks = client.post(
        "/v1/fill-mask", json={"model": model, "text": "the [MASK] sat", "top_k": 2}
    ).json()
    assert len(masks["masks"][0]) == 2
    demo = client.post(
        "/v1/mask-demo", json={"model": model, "text": "the cat sat on the mat"}
    ).json()
    assert demo["measured"]["n_picked"] > 0


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("/v1/embeddings", {"model": "TINY_BERT", "input": ""}, "empty text"),
        (
            "/v1/completions",
            {"model": "TINY_GPT2", "prompt": "x", "max_tokens": 0},
            "max_new_tokens",
        ),
        ("/v1/completions", {"model": "TINY_BERT", "prompt": "x"}, "needs a decoder"),
        (
            "/v1/chat/completions",
            {"model": "TINY_GPT2", "messages": [{"role": "user", "content": "x"}]},
            "no chat template",
        ),
        ("/v1/fill-mask", {"model": "TINY_BERT", "text": "a [MASK]"}, "no trained MLM head"),
        ("/v1/embeddings", {"model": "./no/such/dir", "input": "x"}, "does not exist"),
        (
            "/v1/embeddings",
            {"model": "TINY_BERT", "input": "x", "backend": "warp-drive"},
            "unknown encoder backend",
        ),
        (
            "/v1/completions",
            {"model": "TINY_GPT2", "prompt": "x", "backend": "onnx-int8"},
            "unknown decoder backend",
        ),
    ],
)
def test_bad_input_is_400_with_a_fix(client, tiny_bert_dir, tiny_gpt2_dir, path, body, message):
    names = {"TINY_BERT": str(tiny_bert_dir), "TINY_GPT2": str(tiny_gpt2_dir)}
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = client.post(path, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"] and error["fix"]
