"""`plm serve` as a user runs it: a real process on loopback starts, answers, and stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_starts_answers_and_stops(tiny_bert_dir):
    port = _free_port()
    command = [sys.executable, "-m", "plmkit.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--preload", str(tiny_bert_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up in 90 s"
            time.sleep(0.3)
        answer = httpx.post(
            f"{base}/v1/embeddings",
            json={"model": str(tiny_bert_dir), "input": ["the cat sat"]},
            timeout=60,
        )
        assert answer.status_code == 200
        assert len(answer.json()["data"][0]["embedding"]) == 32
        bad = httpx.post(f"{base}/v1/embeddings", json={"model": str(tiny_bert_dir), "input": ""})
        assert 400 <= bad.status_code < 500
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert "Traceback" not in output
