"""Binding: loopback by default, a warning for another address without a key."""

from __future__ import annotations

import inspect

from plmkit.serve.server import open_bind_warning, serve


def test_loopback_is_the_default():
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"


def test_another_address_without_a_key_warns():
    assert open_bind_warning("127.0.0.1", None) is None
    assert open_bind_warning("0.0.0.0", "k") is None
    warning = open_bind_warning("0.0.0.0", None)
    assert warning and "--api-key" in warning and "PLMKIT_API_KEY" in warning


def test_plm_serve_on_another_address_without_a_key_prints_the_warning(
    tiny_bert_dir, monkeypatch, caplog
):
    from typer.testing import CliRunner

    from plmkit.cli import app

    bound: list = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: bound.append(kw))
    monkeypatch.delenv("PLMKIT_API_KEY", raising=False)
    command = ["serve", "--encoder", str(tiny_bert_dir), "--host", "0.0.0.0", "--port", "1"]
    with caplog.at_level("WARNING", logger="plmkit.serve"):
        assert CliRunner().invoke(app, command).exit_code == 0
    assert bound[-1]["host"] == "0.0.0.0"
    assert "serving on 0.0.0.0 without an API key" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="plmkit.serve"):
        assert CliRunner().invoke(app, [*command, "--api-key", "k"]).exit_code == 0
        assert CliRunner().invoke(app, command[:3] + ["--port", "1"]).exit_code == 0
    assert "without an API key" not in caplog.text
    assert bound[-1]["host"] == "127.0.0.1"
