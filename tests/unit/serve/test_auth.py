"""API keys: 401 without the right bearer key on every route but /health, the page and
(without --metrics-key) /metrics; constant-time, case-sensitive comparison."""

from __future__ import annotations

import pytest

from plmkit.serve.auth import key_matches

KEY = "Sk-Secret-1"


@pytest.fixture(scope="module")
def keyed(models, serve_with):
    with serve_with(models, api_key=KEY, metrics_key="m-key") as client:
        yield client


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/v1/models", None),
        ("POST", "/v1/embeddings", {"input": "the cat"}),
        ("POST", "/v1/completions", {"prompt": "the cat"}),
        ("POST", "/v1/classify", {"input": "fun"}),
        ("POST", "/v1/tokenize", {"text": "the cat"}),
        ("GET", "/openapi.json", None),
        ("GET", "/v1/no-such-route", None),
    ],
)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Bearer {KEY.lower()}", KEY, f"Basic {KEY}", f"Bearer {KEY}x"],
)
def test_no_or_wrong_key_is_401(keyed, method, path, body, header):
    headers = {"Authorization": header} if header else {}
    response = keyed.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "authentication_error"


def test_the_right_key_passes_and_the_scheme_is_case_insensitive(keyed):
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {KEY}"}
        assert keyed.get("/v1/models", headers=headers).status_code == 200
        answer = keyed.post("/v1/embeddings", json={"input": "the cat"}, headers=headers)
        assert answer.status_code == 200


def test_health_and_page_need_no_key_and_metrics_its_own(keyed):
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/").status_code == 200
    assert keyed.get("/metrics").status_code == 401
    assert keyed.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
    assert keyed.get("/metrics", headers={"Authorization": "Bearer m-key"}).status_code == 200


def test_metrics_is_open_without_a_metrics_key(tiny_bert_dir, serve_with):
    with serve_with({"encoders": [str(tiny_bert_dir)]}, api_key=KEY) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/models").status_code == 401


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(keyed):
    response = keyed.post("/v1/embeddings", content=b"x" * (3 << 20))
    assert response.status_code == 401


def test_key_matches_compares_exactly():
    assert key_matches(KEY, KEY)
    assert not key_matches(KEY.upper(), KEY) and not key_matches(None, KEY)
    assert not key_matches("", KEY)
