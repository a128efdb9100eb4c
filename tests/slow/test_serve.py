"""Issue #11's first done-when on the real embedded models (minutes): `make test-slow`.

    plm finetune --model minilm --data movie-snippets --max-steps 30 --out RUN
    plm serve --encoder minilm --generator smollm2 --classifier RUN --api-key K --port P

then, over loopback: /health 503 while the models load, 200 once ready; the official
`openai` client's embeddings (float and base64), completions, chat, and streaming chat
with the usage chunk; /v1/classify and the key refused without it.

On a crowded machine two settings make it affordable: PLMKIT_SLOW_CLASSIFIER=DIR serves an
existing classifier instead of fine-tuning one, PLMKIT_SLOW_SERVE_BACKEND=NAME passes
--backend NAME instead of letting `auto` measure the engines at start-up.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow
KEY = "K-slow-test"
READY_S = 900  # a first start measures `auto`'s engines for smollm2 (cached after)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    if os.environ.get("PLMKIT_SLOW_CLASSIFIER"):
        return os.environ["PLMKIT_SLOW_CLASSIFIER"]
    out = tmp_path_factory.mktemp("sentiment")
    command = [sys.executable, "-m", "plmkit.cli", "finetune", "--model", "minilm",
               "--data", "movie-snippets", "--max-steps", "30", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    """(base URL, /health statuses seen until ready) of a real `plm serve` process."""
    import httpx

    port = _free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    command = [sys.executable, "-m", "plmkit.cli", "serve", "--encoder", "minilm",
               "--generator", "smollm2", "--classifier", str(run_dir), "--api-key", KEY,
               "--port", str(port)]  # fmt: skip
    if os.environ.get("PLMKIT_SLOW_SERVE_BACKEND"):
        command += ["--backend", os.environ["PLMKIT_SLOW_SERVE_BACKEND"]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base, seen = f"http://127.0.0.1:{port}", []
    deadline = time.monotonic() + READY_S
    try:
        while not seen or seen[-1] != 200:
            assert process.poll() is None, open(log.name).read()[-3000:]
            assert time.monotonic() < deadline, open(log.name).read()[-3000:]
            try:
                seen.append(httpx.get(f"{base}/health", timeout=5).status_code)
            except httpx.TransportError:
                time.sleep(0.05)
        yield base, seen
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.fixture(scope="module")
def api(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key=KEY, max_retries=0, timeout=300)


def test_health_goes_from_503_to_200(server):
    _, seen = server
    assert seen[0] == 503 and seen[-1] == 200
    assert set(seen) == {503, 200}


def test_models_and_the_key(server, api, run_dir):
    import httpx

    base, _ = server
    listed = {m.id: m for m in api.models.list().data}
    assert set(listed) == {"minilm", "smollm2", str(run_dir)}
    assert httpx.get(f"{base}/v1/models").status_code == 401
    wrong = {"Authorization": "Bearer k-slow-test"}  # case matters
    assert httpx.get(f"{base}/v1/models", headers=wrong).status_code == 401


def test_embeddings_float_and_base64(api):
    texts = ["a gorgeous, moving film", "a tedious mess"]
    floats = api.embeddings.create(model="minilm", input=texts, encoding_format="float")
    packed = api.embeddings.create(model="minilm", input=texts, encoding_format="base64")
    assert [len(d.embedding) for d in floats.data] == [384, 384]
    for a, b in zip(floats.data, packed.data, strict=True):
        if isinstance(b.embedding, str):  # the client decodes base64 itself in new versions
            b.embedding = np.frombuffer(base64.b64decode(b.embedding), dtype="<f4").tolist()
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-6)
    assert floats.usage.prompt_tokens > 0
    a, b = (np.asarray(d.embedding) for d in floats.data)
    assert float(a @ b) < 0.9  # different sentences, normalised vectors


def test_completion(api):
    done = api.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert done.choices[0].text.strip() and done.choices[0].finish_reason in ("stop", "length")
    assert done.usage.completion_tokens <= 8


def test_chat_and_streaming_chat_with_usage(api):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    whole = api.chat.completions.create(
        model="smollm2", messages=messages, max_tokens=24, temperature=0
    )
    assert "Paris" in whole.choices[0].message.content
    chunks = list(
        api.chat.completions.create(
            model="smollm2",
            messages=messages,
            max_tokens=24,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_classify(server, run_dir):
    import httpx

    base, _ = server
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": str(run_dir), "input": ["a gorgeous, moving film", "a tedious mess"]}
    answer = httpx.post(f"{base}/v1/classify", json=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["data"]
    assert len(rows) == 2 and all(row["label"] in ("positive", "negative") for row in rows)
