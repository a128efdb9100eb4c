"""The server on tiny models: one app per module through FastAPI's TestClient, and a real
uvicorn server on a free loopback port for what needs sockets (the openai client, a client
that disconnects)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from plmkit.serve import ServeSettings, create_app, served_models  # noqa: E402

FAST = {"backend": "torch-fp32"}  # no `auto` measurements in unit tests


def wait_ready(client: TestClient, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while client.get("/health").status_code != 200:
        assert time.monotonic() < deadline, client.get("/health").json()
        time.sleep(0.05)


@contextmanager
def running(models: dict, **settings) -> Iterator[TestClient]:
    """A TestClient on an app serving `models` ({"encoders": [...], ...}), once ready."""
    app = create_app(served_models(**models), ServeSettings(**{**FAST, **settings}))
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def models(tiny_bert_mlm_dir, tiny_classifier_dir, tiny_gpt2_dir, tiny_llama_dir) -> dict:
    """One model of each kind; the MLM encoder also fills masks."""
    return {
        "encoders": [str(tiny_bert_mlm_dir)],
        "generators": [str(tiny_gpt2_dir), str(tiny_llama_dir)],
        "classifiers": [str(tiny_classifier_dir)],
    }


@pytest.fixture(scope="session")
def real_server_with() -> Callable:
    """`with real_server_with(models, **settings) as (base_url, app):` over sockets."""
    return real_server


@pytest.fixture(scope="module")
def client(models) -> Iterator[TestClient]:
    with running(models) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def serve_with() -> Callable:
    """`with serve_with(models, **settings) as client:` a server of one's own."""
    return running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def real_server(models: dict, **settings) -> Iterator[tuple[str, object]]:
    """(base URL, app) of a uvicorn server in a thread on 127.0.0.1, once ready."""
    import httpx
    import uvicorn

    app = create_app(served_models(**models), ServeSettings(**{**FAST, **settings}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base, app
    finally:
        server.should_exit = True
        thread.join(30)


def metrics_reader(text: str) -> Callable[..., float]:
    """`read(name, **labels)`: one sample of the Prometheus text `text` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def read(name: str, **labels: str) -> float:
        return found.get((name, tuple(sorted(labels.items()))), 0.0)

    return read


@pytest.fixture(scope="session")
def read_metrics() -> Callable:
    """`read_metrics(client)(name, **labels)`: a sample of the client's GET /metrics."""
    return lambda client: metrics_reader(client.get("/metrics").text)
