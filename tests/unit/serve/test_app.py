"""The app as a client meets it: the page, /health while loading and when ready, the
served-model list, and 404 for anything not served."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from plmkit.serve import ServeSettings, create_app, served_models


def test_page_asks_for_the_key_and_lists_served_models(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "api-key" in page.text and "Authorization" in page.text and "/v1/models" in page.text


def test_health_is_503_while_loading_then_200(tiny_bert_dir, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr("plmkit.serve.models.warm_up", lambda info, backend: release.wait(30))
    app = create_app(served_models(encoders=[str(tiny_bert_dir)]), ServeSettings())
    with TestClient(app) as client:
        loading = client.get("/health")
        assert loading.status_code == 503 and loading.json()["status"] == "loading"
        assert loading.json()["error"]["code"] == "loading"
        early = client.post("/v1/embeddings", json={"input": "the cat"})
        assert early.status_code == 503 and early.headers["retry-after"]
        release.set()
        deadline = time.monotonic() + 10
        while (ready := client.get("/health")).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert ready.json() == {"status": "ok", "models": [str(tiny_bert_dir)]}


def test_a_model_that_fails_to_load_is_a_503_not_a_crash(tiny_bert_dir, monkeypatch):
    def broken(info, backend):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("plmkit.serve.models.warm_up", broken)
    app = create_app(served_models(encoders=[str(tiny_bert_dir)]), ServeSettings())
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while client.get("/health").json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        health = client.get("/health")
        assert health.status_code == 503 and "out of memory" in health.json()["error"]["message"]


def test_models_lists_only_what_is_served(client, models, tiny_classifier_dir):
    listed = client.get("/v1/models").json()["data"]
    assert [m["id"] for m in listed] == [
        *models["encoders"],
        *models["generators"],
        *models["classifiers"],
    ]
    kinds = {m["id"]: m["kind"] for m in listed}
    assert kinds[str(tiny_classifier_dir)] == "classifier"
    assert set(kinds.values()) == {"encoder", "generator", "classifier"}
    labels = {m["id"]: m.get("labels") for m in listed}
    assert labels[str(tiny_classifier_dir)] == ["negative", "positive"]
    assert all(m["max_input_tokens"] == 128 for m in listed)
    assert {m["backend"] for m in listed} == {"torch-fp32"}  # the engine each model runs on


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/embeddings", {"model": "minilm", "input": "x"}),
        ("/v1/embeddings", {"model": "/etc", "input": "x"}),
        ("/v1/embeddings", {"model": "TINY_BERT", "input": "x"}),  # a directory not served
        ("/v1/completions", {"model": "smollm2", "prompt": "x"}),
        ("/v1/classify", {"model": "../runs/x", "input": "x"}),
    ],
)
def test_a_model_not_served_is_404(client, tiny_bert_dir, path, body):
    body = {k: str(tiny_bert_dir) if v == "TINY_BERT" else v for k, v in body.items()}
    answer = client.post(path, json=body)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["param"] == "model" and error["code"] == "model_not_found"
    assert error["type"] == "not_found_error" and error["fix"]


def test_a_served_model_of_the_wrong_kind_is_400(client, models):
    answer = client.post("/v1/completions", json={"model": models["encoders"][0], "prompt": "x"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "wrong_model_kind"
    assert "needs a generator" in answer.json()["error"]["message"]


def test_an_unknown_path_is_404_and_a_wrong_method_405_in_the_same_body(client):
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
        "fix",
    }
    assert client.get("/v1/embeddings").status_code == 405
    assert "error" in client.get("/v1/embeddings").json()


def test_tokenize_fill_mask_and_mask_demo(client, models):
    encoder = models["encoders"][0]
    tokens = client.post("/v1/tokenize", json={"model": encoder, "text": "the cat"}).json()
    assert tokens["tokens"][0] == "[CLS]"
    generator = client.post("/v1/tokenize", json={"model": models["generators"][0], "text": "a"})
    assert generator.status_code == 200 and generator.json()["input_ids"]
    masks = client.post("/v1/fill-mask", json={"text": "the [MASK] sat", "top_k": 2}).json()
    assert len(masks["masks"][0]) == 2
    demo = client.post("/v1/mask-demo", json={"text": "the cat sat on the mat"}).json()
    assert demo["measured"]["n_picked"] > 0


def test_classify_in_input_order(client):
    texts = ["great fun", "dull", "fine"]
    body = client.post("/v1/classify", json={"input": texts}).json()
    assert [row["text"] for row in body["data"]] == texts
    assert {row["label"] for row in body["data"]} <= {"negative", "positive"}
