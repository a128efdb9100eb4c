"""GET /metrics: Prometheus text with requests by route and status, latency, slots and
queue, batch sizes, tokens generated and rejected requests."""

from __future__ import annotations

import re


def test_requests_latency_tokens_batches_and_rejections(
    tiny_gpt2_dir, tiny_bert_dir, serve_with, read_metrics
):
    models = {"encoders": [str(tiny_bert_dir)], "generators": [str(tiny_gpt2_dir)]}
    with serve_with(models, api_key="k") as client:
        key = {"Authorization": "Bearer k"}
        for _ in range(2):
            client.post("/v1/embeddings", json={"input": ["a", "b", "c"]}, headers=key)
        client.post("/v1/embeddings", json={"input": 3}, headers=key)
        client.post("/v1/embeddings", json={"input": "a"})  # no key
        answer = client.post(
            "/v1/completions", json={"prompt": "the", "max_tokens": 3}, headers=key
        )
        made = answer.json()["usage"]["completion_tokens"]
        client.get("/random/path/1", headers=key)
        response = client.get("/metrics")
        read = read_metrics(client)
    assert response.headers["content-type"].startswith("text/plain")
    route = "/v1/embeddings"
    assert read("plmkit_requests_total", route=route, status="200") == 2
    assert read("plmkit_requests_total", route=route, status="422") == 1
    assert read("plmkit_requests_total", route=route, status="401") == 1
    assert read("plmkit_requests_total", route="other", status="404") == 1
    assert read("plmkit_request_seconds_count", route=route) == 4
    assert read("plmkit_rejected_requests_total", reason="unauthorized") == 1
    assert read("plmkit_tokens_generated_total", model=str(tiny_gpt2_dir)) == made
    assert read("plmkit_batch_size_sum", model=str(tiny_bert_dir)) >= 6
    assert read("plmkit_queue_depth") == 0 and read("plmkit_requests_running") == 0
    assert not re.search(r'route="/random', response.text)
