"""A real `plm serve` process for the load test: ready on loopback, its memory readable by
pid, stopped afterwards; one that cannot start says why with its own log."""

from __future__ import annotations

import os

import httpx
import pytest

from plmkit.errors import PlmError
from plmkit.serve.process import rss_mb, running_server


def test_a_served_tiny_encoder_answers_then_the_process_is_gone(tiny_bert_dir):
    models = {"encoder": [str(tiny_bert_dir)]}
    with running_server(models, "torch-fp32", max_concurrency=2) as (base, pid):
        assert pid != os.getpid() and rss_mb(pid) > 50
        listed = httpx.get(f"{base}/v1/models").json()["data"]
        assert [m["id"] for m in listed] == [str(tiny_bert_dir)]
    assert (
        not os.path.exists(f"/proc/{pid}/status") or "zombie" in open(f"/proc/{pid}/status").read()
    )


def test_a_server_that_cannot_start_shows_its_log(tmp_path):
    with pytest.raises(PlmError, match="exited with status") as raised:
        with running_server({"encoder": [str(tmp_path / "missing")]}, "torch-fp32"):
            pass
    assert "missing" in raised.value.message
