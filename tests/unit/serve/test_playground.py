"""/v1/explain and /v1/attention: answers from the pipelines, served models only, bounded,
in the one error body, behind the API key."""

from __future__ import annotations

import pytest

from plmkit.pipelines.explain import explain
from plmkit.serve.playground import MAX_ATTENTION_TOKENS, MAX_EXPLAIN_TOKENS, MAX_STEPS

TEXT = "great fun the movie was ."


def test_explain_answers_what_the_pipeline_finds(client, tiny_classifier_dir):
    answer = client.post("/v1/explain", json={"input": TEXT, "steps": 16})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    expected = explain(TEXT, str(tiny_classifier_dir), steps=16)
    assert body["object"] == "explanation" and body["model"] == str(tiny_classifier_dir)
    assert body["tokens"] == expected.tokens and body["label"] == expected.label == "positive"
    assert body["attributions"] == pytest.approx(expected.attributions, abs=1e-6)
    assert body["delta"] == pytest.approx(expected.delta, abs=1e-6)
    assert body["steps"] == 16 and set(body["probabilities"]) == {"negative", "positive"}
    chosen = client.post("/v1/explain", json={"input": TEXT, "label": "negative", "steps": 4})
    assert chosen.json()["label"] == "negative" and chosen.json()["predicted"] == "positive"


def test_attention_for_each_kind_served(client, models):
    for model in (models["encoders"][0], models["generators"][0], models["classifiers"][0]):
        answer = client.post(
            "/v1/attention", json={"model": model, "input": "the cat sat", "layer": 1, "head": 0}
        )
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        size = len(body["tokens"])
        assert (body["layer"], body["head"], body["num_layers"]) == (1, 0, 2)
        assert len(body["weights"]) == size and all(len(row) == size for row in body["weights"])
        assert body["kind"] == ("decoder" if model in models["generators"] else "encoder")
    mean = client.post("/v1/attention", json={"input": "the cat sat"}).json()
    assert mean["head"] is None and mean["model"] == models["encoders"][0]


@pytest.mark.parametrize(
    "path, body, status, param, code",
    [
        ("/v1/explain", {"input": TEXT, "steps": MAX_STEPS + 1}, 422, "steps", None),
        ("/v1/explain", {"input": TEXT, "steps": 0}, 422, "steps", None),
        ("/v1/explain", {"input": ""}, 422, "input", None),
        ("/v1/explain", {"input": TEXT, "label": "neutral"}, 422, "label", "unknown_label"),
        ("/v1/explain", {"input": "great " * 200}, 422, "input", "input_too_long"),
        ("/v1/explain", {"input": TEXT, "model": "minilm"}, 404, "model", "model_not_found"),
        ("/v1/attention", {"input": "word " * 200}, 422, "input", "input_too_long"),
        ("/v1/attention", {"input": "the", "layer": -1}, 422, "layer", None),
        ("/v1/attention", {"input": "the", "layer": 7}, 400, None, "PLM005"),
        ("/v1/attention", {"input": "the", "head": 9}, 400, None, "PLM005"),
        ("/v1/attention", {"input": "the", "model": "/etc"}, 404, "model", "model_not_found"),
    ],
)
def test_bad_requests_are_4xx_in_the_one_error_body(client, path, body, status, param, code):
    answer = client.post(path, json=body)
    assert answer.status_code == status, answer.json()
    error = answer.json()["error"]
    assert error["param"] == param and error["fix"]
    if code:
        assert error["code"] == code


def test_an_explain_on_a_plain_encoder_names_the_route(client, models):
    answer = client.post("/v1/explain", json={"input": TEXT, "model": models["encoders"][0]})
    assert answer.status_code == 400
    assert "/v1/explain needs a classifier" in answer.json()["error"]["message"]


def test_truncate_cuts_long_inputs_at_the_bound(client):
    long = client.post("/v1/explain", json={"input": "great " * 200, "truncate": True, "steps": 2})
    assert long.status_code == 200 and long.json()["truncated"]
    assert len(long.json()["tokens"]) == MAX_EXPLAIN_TOKENS
    grid = client.post("/v1/attention", json={"input": "word " * 200, "truncate": True}).json()
    assert grid["truncated"] and len(grid["weights"]) == MAX_ATTENTION_TOKENS


def test_both_need_the_key(models, serve_with):
    with serve_with(models, api_key="k1") as keyed:
        for path in ("/v1/explain", "/v1/attention"):
            assert keyed.post(path, json={"input": TEXT}).status_code == 401
        ok = keyed.post(
            "/v1/attention", json={"input": TEXT}, headers={"Authorization": "Bearer k1"}
        )
        assert ok.status_code == 200
