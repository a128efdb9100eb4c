"""`plm serve` as a user runs it: a real process on loopback starts on the models it is
given, asks for its key, answers, and stops; a model it must not serve stops it first."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from plmkit.cli import app

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_starts_on_its_models_with_a_key_answers_and_stops(tiny_bert_dir):
    port = _free_port()
    command = [sys.executable, "-m", "plmkit.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--encoder", str(tiny_bert_dir), "--backend", "torch-fp32"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PLMKIT_API_KEY": "s3cret"},
    )
    base = f"http://127.0.0.1:{port}"
    key = {"Authorization": "Bearer s3cret"}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break  # /health needs no key
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up in 90 s"
            time.sleep(0.3)
        body = {"model": str(tiny_bert_dir), "input": ["the cat sat"]}
        assert httpx.post(f"{base}/v1/embeddings", json=body).status_code == 401
        answer = httpx.post(f"{base}/v1/embeddings", json=body, headers=key, timeout=60)
        assert answer.status_code == 200
        assert len(answer.json()["data"][0]["embedding"]) == 32
        other = httpx.post(
            f"{base}/v1/embeddings", json={**body, "model": "minilm"}, headers=key, timeout=10
        )
        assert other.status_code == 404  # only the models it was started with
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert "Traceback" not in output


def test_pickle_only_weights_stop_it_before_it_binds(tiny_bert_dir, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    result = CliRunner().invoke(app, ["serve", "--encoder", str(pickled), "--port", "1"])
    assert result.exit_code == 2
    assert "safetensors only" in result.output and "safe_serialization=True" in result.output


def test_bad_limits_are_refused_by_flag(tiny_bert_dir):
    result = CliRunner().invoke(app, ["serve", "--encoder", str(tiny_bert_dir), "--max-batch", "0"])
    assert result.exit_code == 2 and "--max-batch must be > 0" in result.output


def test_batching_windows_reach_the_server_settings(monkeypatch):
    seen = {}
    monkeypatch.setattr("plmkit.serve.serve", lambda *_, settings, **__: seen.update(s=settings))
    result = CliRunner().invoke(
        app, ["serve", "--batch-window-ms", "0", "--generation-window-ms", "7.5"]
    )
    assert result.exit_code == 0, result.output
    assert (seen["s"].batch_window_ms, seen["s"].generation_window_ms) == (0, 7.5)
    result = CliRunner().invoke(app, ["serve", "--batch-window-ms", "-1"])
    assert result.exit_code == 2 and "--batch-window-ms must be > 0" in result.output
