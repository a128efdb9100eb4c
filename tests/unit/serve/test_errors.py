"""One error body everywhere: validation errors, bad JSON and bytes, plmkit's errors and a
failing engine, never a 500 or a traceback for a client's mistake."""

from __future__ import annotations

import pytest

FIELDS = {"message", "type", "param", "code", "fix"}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == FIELDS
    assert "Traceback" not in response.text
    return body["error"]


def post_raw(client, path: str, content: bytes):
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def test_invalid_json_is_400(client):
    error = error_of(post_raw(client, "/v1/embeddings", b'{"input": '), 400)
    assert error["code"] == "invalid_json" and "not valid JSON" in error["message"]


def test_invalid_utf8_is_400_naming_the_byte(client):
    error = error_of(post_raw(client, "/v1/embeddings", b'{"input": "caf\xe9"}'), 400)
    assert error["code"] == "invalid_utf8" and "0xe9" in error["message"]


def test_a_body_that_is_not_an_object_is_422(client):
    error = error_of(post_raw(client, "/v1/embeddings", b"[1, 2]"), 422)
    assert "JSON object" in error["message"]


@pytest.mark.parametrize(
    "path, body, param",
    [
        ("/v1/embeddings", {"input": 3}, "input"),
        ("/v1/embeddings", {}, "input"),
        ("/v1/embeddings", {"input": []}, "input"),
        ("/v1/embeddings", {"input": ["a", ""]}, "input.1"),
        ("/v1/embeddings", {"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}, "messages.0"),
        ("/v1/chat/completions", {"messages": []}, "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}, "messages.0"),
        ("/v1/completions", {"prompt": ""}, "prompt"),
        ("/v1/completions", {"prompt": "x", "max_tokens": "many"}, "max_tokens"),
    ],
)
def test_wrong_types_and_empty_input_are_422_naming_the_field(client, path, body, param):
    error = error_of(client.post(path, json=body), 422)
    assert error["param"].startswith(param) and error["message"].startswith(param)


def test_blank_text_is_a_plmkit_400(client):
    error = error_of(client.post("/v1/embeddings", json={"input": "   "}), 400)
    assert error["code"] == "PLM005" and "empty text" in error["message"]


def test_plmkit_errors_keep_their_fix(client, models):
    encoder = models["encoders"][0]
    error = error_of(client.post("/v1/fill-mask", json={"model": encoder, "text": "no mask"}), 400)
    assert "no [MASK] token" in error["message"] and error["fix"]
    chat = {"model": models["generators"][0], "messages": [{"role": "user", "content": "x"}]}
    error = error_of(client.post("/v1/chat/completions", json=chat), 400)
    assert "no chat template" in error["message"]


def test_an_engine_failure_is_503_and_the_server_keeps_serving(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("llama_decode returned 1")

    with monkeypatch.context() as patch:
        patch.setattr("plmkit.pipelines.encode.encode", broken)
        error = error_of(client.post("/v1/embeddings", json={"input": "the cat"}), 503)
    assert error["code"] == "engine_error" and "llama_decode returned 1" in error["message"]
    assert client.post("/v1/embeddings", json={"input": "the cat"}).status_code == 200


def test_an_engine_failure_in_generation_is_503(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("decode failed")

    monkeypatch.setattr("plmkit.serve.decoding.generate", broken)
    for stream in (False, True):
        body = {"prompt": "the cat", "max_tokens": 2, "stream": stream}
        error = error_of(client.post("/v1/completions", json=body), 503)
        assert "decode failed" in error["message"]


def test_a_full_disk_is_507_with_the_operators_fix(client, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/cache/model.onnx")

    with monkeypatch.context() as patch:
        patch.setattr("plmkit.pipelines.encode.encode", full)
        error = error_of(client.post("/v1/embeddings", json={"input": "the cat"}), 507)
    assert error["code"] == "insufficient_storage" and "disk is full" in error["message"]
    assert "PLMKIT_CACHE" in error["fix"]
    assert client.post("/v1/embeddings", json={"input": "the cat"}).status_code == 200


def test_a_full_disk_outside_an_engine_is_507_too_and_another_bug_500(client):
    import errno

    from fastapi.testclient import TestClient

    def full():
        raise OSError(errno.ENOSPC, "No space left on device")

    def bug():
        raise KeyError("oops")

    routes = client.app.router.routes
    before = list(routes)
    client.app.add_api_route("/test-disk-full", full)
    client.app.add_api_route("/test-bug", bug)
    try:
        plain = TestClient(client.app, raise_server_exceptions=False)
        error = error_of(plain.get("/test-disk-full"), 507)
        assert error["code"] == "insufficient_storage"
        assert error_of(plain.get("/test-bug"), 500)["code"] == "internal_error"
    finally:  # the session's app keeps only its own routes
        routes[:] = before
