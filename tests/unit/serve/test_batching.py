"""Dynamic batching: requests arriving together run as one pipeline call, and each gets
what it would have got alone."""

from __future__ import annotations

import threading

import numpy as np

TEXTS = [
    ["the cat sat on the mat"],
    ["a dog", "the best movie ever , funny and moving !"],
    ["once upon a time there was a king"],
    ["bad"],
    ["the worst film ever", "good", "this film was bad , the plot was a tedious mess ."],
    ["it was fun"],
]


def together(client, path: str, bodies: list[dict]) -> list:
    answers: list = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(index: int) -> None:
        start.wait()
        answers[index] = client.post(path, json=bodies[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    return [answer.json() for answer in answers]


def test_batched_embeddings_equal_single_requests(tiny_bert_dir, serve_with, read_metrics):
    models = {"encoders": [str(tiny_bert_dir)]}
    with serve_with(models, batch_window_ms=200) as client:
        batched = together(client, "/v1/embeddings", [{"input": texts} for texts in TEXTS])
        read = read_metrics(client)
    with serve_with(models, batch_window_ms=0) as client:
        alone = [client.post("/v1/embeddings", json={"input": t}).json() for t in TEXTS]
    model = str(tiny_bert_dir)
    calls = read("plmkit_batch_requests_count", model=model)
    assert calls < len(TEXTS)  # some requests shared a pipeline call
    assert read("plmkit_batch_requests_sum", model=model) == len(TEXTS)
    for joined, single in zip(batched, alone, strict=True):
        assert joined["usage"] == single["usage"]
        for a, b in zip(joined["data"], single["data"], strict=True):
            np.testing.assert_allclose(a["embedding"], b["embedding"], atol=1e-5)


def test_batched_classification_equals_single_requests(tiny_classifier_dir, serve_with):
    models = {"classifiers": [str(tiny_classifier_dir)]}
    with serve_with(models, batch_window_ms=200) as client:
        batched = together(client, "/v1/classify", [{"input": texts} for texts in TEXTS])
    with serve_with(models, batch_window_ms=0) as client:
        alone = [client.post("/v1/classify", json={"input": t}).json() for t in TEXTS]
    for joined, single in zip(batched, alone, strict=True):
        for a, b in zip(joined["data"], single["data"], strict=True):
            assert (a["text"], a["label"]) == (b["text"], b["label"])
            for label, p in a["probabilities"].items():
                assert abs(p - b["probabilities"][label]) < 1e-5


def test_a_batch_is_bounded_by_texts(tiny_bert_dir, serve_with, read_metrics):
    with serve_with(
        {"encoders": [str(tiny_bert_dir)]}, batch_window_ms=300, batch_max_texts=3
    ) as client:
        together(client, "/v1/embeddings", [{"input": ["a", "b"]} for _ in range(4)])
        read = read_metrics(client)
    model = str(tiny_bert_dir)
    assert read("plmkit_batch_size_count", model=model) == 4  # 2 + 2 > 3: no merging


def test_requests_arriving_while_a_batch_runs_share_the_next_one():
    """Two batches per model at a time: a lone request starts on the next loop turn (no
    window), and those that came while both ran go together, at once, when one ends."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from plmkit.serve.batching import MicroBatcher
    from plmkit.serve.metrics import ServerMetrics

    calls: list[list[str]] = []
    release = threading.Event()

    def run(_key, texts):
        calls.append(list(texts))
        if len(calls) <= 2:
            release.wait(10)
        return [t.upper() for t in texts]

    async def scenario():
        batcher = MicroBatcher(run, ThreadPoolExecutor(4), ServerMetrics(), 0.0, 64, 10_000)
        first = []
        for text in "ab":  # a alone, then b beside it
            first.append(asyncio.ensure_future(batcher.submit("m", [text], 1)))
            while len(calls) < len(first):
                await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(batcher.submit("m", [t], 1)) for t in "cde"]
        await asyncio.sleep(0.05)
        assert calls == [["a"], ["b"]]  # the others wait for a running batch to end
        release.set()
        return await asyncio.gather(*first), await asyncio.gather(*later)

    first, later = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert first == [["A"], ["B"]] and later == [["C"], ["D"], ["E"]]
    assert calls == [["a"], ["b"], ["c", "d", "e"]]
