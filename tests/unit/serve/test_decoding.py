"""Batched generation in the server: completions and chats that arrive together are decoded
as one batch, and each answer equals the same request sent alone."""

from __future__ import annotations

import json
import threading

PROMPTS = ["the cat sat on", "a", "once upon a time there was", "the dog"]


def together(client, bodies: list[tuple[str, dict]]) -> list:
    answers: list = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(index: int) -> None:
        start.wait()
        answers[index] = client.post(bodies[index][0], json=bodies[index][1])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def text_of(response) -> str:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        parts = [p[6:] for p in response.text.split("\n\n") if p.startswith("data: {")]
        chunks = [json.loads(p)["choices"] for p in parts]
        return "".join(c[0].get("text") or c[0].get("delta", {}).get("content", "")
                       for c in chunks if c)  # fmt: skip
    choice = response.json()["choices"][0]
    return choice["text"] if "text" in choice else choice["message"]["content"]


def bodies(model: str) -> list[tuple[str, dict]]:
    out = [
        ("/v1/completions", {"model": model, "prompt": p, "max_tokens": 4 + 2 * i,
                             "temperature": 0, "stream": i % 2 == 1})
        for i, p in enumerate(PROMPTS)
    ]  # fmt: skip
    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    return [
        *out,
        ("/v1/chat/completions", chat),
        ("/v1/chat/completions", {**chat, "stream": True}),
    ]


def test_concurrent_generations_share_a_batch_and_equal_alone(
    tiny_llama_dir, serve_with, read_metrics
):
    model = str(tiny_llama_dir)
    with serve_with({"generators": [model]}, generation_window_ms=400) as client:
        batched = together(client, bodies(model))
        read = read_metrics(client)
    with serve_with({"generators": [model]}, generation_window_ms=0) as client:
        alone = [client.post(path, json=body) for path, body in bodies(model)]
    assert read("plmkit_batch_requests_sum", model=model) == len(bodies(model))
    assert read("plmkit_batch_requests_count", model=model) < len(bodies(model))
    assert [text_of(r) for r in batched] == [text_of(r) for r in alone]
    for joined, single in zip(batched, alone, strict=True):
        if not joined.headers["content-type"].startswith("text/event-stream"):
            assert joined.json()["usage"] == single.json()["usage"]


def test_an_engine_failure_in_a_batch_is_503_for_each_and_the_server_goes_on(
    tiny_gpt2_dir, serve_with, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("batched decode failed")

    monkeypatch.setattr("plmkit.serve.decoding.generate_batch", broken)
    model = str(tiny_gpt2_dir)
    body = {"model": model, "prompt": "the cat", "max_tokens": 3}
    with serve_with({"generators": [model]}, generation_window_ms=400) as client:
        answers = together(client, [("/v1/completions", body)] * 3)
        failed = [a for a in answers if a.status_code == 503]
        assert len(failed) >= 2  # those decoded together (a busy machine may start one alone)
        assert {a.status_code for a in answers} <= {200, 503}
        assert all("batched decode failed" in a.json()["error"]["message"] for a in failed)
        assert client.post("/v1/completions", json=body).status_code == 200


def fake_generate_batch(made: dict):
    """A slow batched decode: a word per row per step, each row stopped by its callback."""
    import time

    from plmkit.pipelines.generate import GenerateResult

    def generate_batch(requests, model, backend):
        outcomes: list = [None] * len(requests)
        texts = [""] * len(requests)
        for step in range(requests[0].config.max_new_tokens):
            for row, request in enumerate(requests):
                if outcomes[row] is not None:
                    continue
                try:
                    request.on_text("word ")
                except Exception as error:  # noqa: BLE001 - as the pipeline does
                    outcomes[row] = error
                    continue
                texts[row] += "word "
                made[row] = step + 1
            time.sleep(0.01)
        return [
            outcome or GenerateResult(r.prompt, texts[i], 1, made[i], "length", 1.0, 0.01)
            for i, (outcome, r) in enumerate(zip(outcomes, requests, strict=True))
        ]

    return generate_batch


def test_a_client_leaving_a_batched_stream_stops_only_its_row(
    tiny_gpt2_dir, real_server_with, monkeypatch
):
    import time

    import httpx

    made: dict = {}
    monkeypatch.setattr("plmkit.serve.decoding.generate_batch", fake_generate_batch(made))
    models = {"generators": [str(tiny_gpt2_dir)]}
    settings = {"max_concurrency": 2, "max_queue": 0, "generation_window_ms": 3000}
    with real_server_with(models, **settings) as (base, app):
        slots = app.state.plmkit.slots
        body = {"prompt": "x", "max_tokens": 200, "stream": True}
        stayed: list = []

        def stay() -> None:
            with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=60) as s:
                stayed.extend(line for line in s.iter_lines() if line)

        other = threading.Thread(target=stay)
        other.start()
        state, deadline = app.state.plmkit, time.monotonic() + 30
        while not any(d.pending for d in state.decoders.values()):  # the first one is queued
            assert time.monotonic() < deadline, "the first stream never reached the queue"
            time.sleep(0.01)
        with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=60) as stream:
            seen = [line for line, _ in zip(stream.iter_lines(), range(6), strict=False) if line]
            assert seen
        other.join(60)
        deadline = time.monotonic() + 5
        while slots.running:
            assert time.monotonic() < deadline, "the slots were not freed"
            time.sleep(0.02)
    assert len(made) == 2  # the two streams shared one batch
    assert min(made.values()) < 60 and max(made.values()) == 200
    assert stayed[-1] == "data: [DONE]"
    finish = json.loads(stayed[-2][6:])
    if not finish["choices"]:  # a usage chunk is not asked for here
        finish = json.loads(stayed[-3][6:])
    assert finish["choices"][0]["finish_reason"] == "length"
