"""Limits: body size (413 before parsing), inputs per request and per input (422),
concurrency and queue (429 with Retry-After), deadlines (504), and a client that leaves
mid-stream (its generation stops and its slot is freed)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from plmkit.pipelines.generate import GenerateResult


def test_a_body_over_max_body_is_413_from_its_content_length(tiny_bert_dir, serve_with):
    with serve_with({"encoders": [str(tiny_bert_dir)]}, max_body=1000) as client:
        big = client.post("/v1/embeddings", json={"input": "cat " * 300})
        assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
        assert client.post("/v1/embeddings", json={"input": "cat " * 10}).status_code == 200


def test_a_streamed_body_is_counted_as_it_arrives(tiny_bert_dir, serve_with):
    def chunks():  # no Content-Length: chunked transfer
        yield b'{"input": "'
        for _ in range(50):
            yield b"cat " * 10
        yield b'"}'

    with serve_with({"encoders": [str(tiny_bert_dir)]}, max_body=1000) as client:
        headers = {"Content-Type": "application/json"}
        assert client.post("/v1/embeddings", content=chunks(), headers=headers).status_code == 413


def test_more_inputs_than_max_batch_is_422(client):
    response = client.post("/v1/embeddings", json={"input": ["the cat"] * 33})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_inputs" and "32" in response.text
    assert client.post("/v1/classify", json={"input": ["fun"] * 33}).status_code == 422
    assert client.post("/v1/embeddings", json={"input": ["the cat"] * 32}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/classify"])
def test_an_input_over_the_model_limit_is_422_unless_truncated(client, path):
    long = "the cat sat " * 60  # 180 words, 182 tokens; the tiny models take 128
    response = client.post(path, json={"input": ["a dog", long]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "input.1" and "182 tokens" in error["message"]
    assert "at most 128" in error["message"] and "truncate" in error["fix"]
    cut = client.post(path, json={"input": ["a dog", long], "truncate": True})
    assert cut.status_code == 200
    if path == "/v1/embeddings":
        assert cut.json()["usage"]["prompt_tokens"] == 4 + 128


def slow_tokenize(seconds: float):
    def tokenize(text, model):
        time.sleep(seconds)
        from types import SimpleNamespace

        return SimpleNamespace(to_dict=lambda: {"text": text})

    return tokenize


def test_beyond_slots_and_queue_a_fast_429_with_retry_after(tiny_bert_dir, serve_with, monkeypatch):
    monkeypatch.setattr("plmkit.pipelines.tokenize.tokenize", slow_tokenize(1.5))
    answers: list = []
    with serve_with({"encoders": [str(tiny_bert_dir)]}, max_concurrency=1, max_queue=1) as client:

        def call():
            start = time.monotonic()
            response = client.post("/v1/tokenize", json={"text": "the cat"})
            answers.append((response, time.monotonic() - start))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        metrics = client.get("/metrics").text
    statuses = sorted(response.status_code for response, _ in answers)
    assert statuses == [200, 200, 429, 429]
    for response, seconds in answers:
        if response.status_code == 429:
            assert response.headers["retry-after"] == "1" and seconds < 0.75
            assert response.json()["error"]["type"] == "rate_limit_error"
    assert 'plmkit_rejected_requests_total{reason="overloaded"} 2.0' in metrics


def fake_generate(calls: list, pause: float = 0.02):
    """A generate that streams a word every `pause` s until its max_new_tokens (or until
    on_text raises), counting the words it made in `calls`."""

    def generate(prompt, model, config, on_text=None, backend="auto"):
        made = 0
        calls.append(0)
        for _ in range(config.max_new_tokens):
            time.sleep(pause)
            if on_text is not None:
                on_text("word ")
            made += 1
            calls[-1] = made
        return GenerateResult(prompt, "word " * made, 3, made, "length", made * pause, pause)

    return generate


def test_past_request_timeout_is_504_and_the_generation_stops(
    tiny_gpt2_dir, serve_with, monkeypatch
):
    calls: list = []
    monkeypatch.setattr("plmkit.serve.decoding.generate", fake_generate(calls))
    with serve_with({"generators": [str(tiny_gpt2_dir)]}, request_timeout=0.3) as client:
        response = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 500})
        assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
        deadline = time.monotonic() + 5
        while client.app.state.plmkit.slots.running:
            assert time.monotonic() < deadline, "the slot was not freed"
            time.sleep(0.02)
        assert calls[0] < 40  # stopped within a word of the deadline, not after 500
        stream = client.post(
            "/v1/completions", json={"prompt": "x", "max_tokens": 500, "stream": True}
        )
        events = [line for line in stream.text.split("\n\n") if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        assert json.loads(events[-2][6:])["error"]["code"] == "timeout"


def test_a_client_leaving_mid_stream_stops_its_generation_and_frees_its_slot(
    tiny_gpt2_dir, real_server_with, monkeypatch
):
    calls: list = []
    monkeypatch.setattr("plmkit.serve.decoding.generate", fake_generate(calls))
    models = {"generators": [str(tiny_gpt2_dir)]}
    with real_server_with(models, max_concurrency=1, max_queue=0) as (base, app):
        slots = app.state.plmkit.slots
        body = {"prompt": "x", "max_tokens": 500, "stream": True}
        with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=30) as stream:
            lines = stream.iter_lines()
            seen = [line for line, _ in zip(lines, range(6), strict=False) if line]
            assert seen and slots.running == 1
        deadline = time.monotonic() + 5
        while slots.running:
            assert time.monotonic() < deadline, "the slot was not freed"
            time.sleep(0.02)
        assert calls[0] < 60  # a few words after the client left, not 500
        start = time.monotonic()
        again = httpx.post(f"{base}/v1/completions", json={"prompt": "x", "max_tokens": 2})
        assert again.status_code == 200 and time.monotonic() - start < 2
        metrics = httpx.get(f"{base}/metrics").text
        assert "plmkit_generations_cancelled_total 1.0" in metrics
