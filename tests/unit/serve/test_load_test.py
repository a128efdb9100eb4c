"""The serve load test on tiny models (quick counts): every phase runs, its checks hold, and
`plm bench serve` runs it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.serve.load_test import (
    LoadOptions,
    format_load_report,
    percentiles,
    quick_options,
    run_load_test,
    same,
)


def test_a_quick_load_test_on_tiny_models(tiny_bert_dir, tiny_llama_dir, tiny_classifier_dir):
    options = quick_options(
        LoadOptions(
            encoder=str(tiny_bert_dir),
            generator=str(tiny_llama_dir),
            classifier=str(tiny_classifier_dir),
            backend="torch-fp32",
            seconds=1,
        )
    )
    report = run_load_test(options)
    assert report["ok"], report
    assert set(report["engines"].values()) == {"torch-fp32"}
    assert report["steady"]["differ_by_route"] == {}
    sent = int(options.rate * options.seconds)
    assert report["steady"]["requests"] == sent == sum(report["steady"]["statuses"].values())
    assert sum(report["burst"]["statuses"].values()) == 4 * options.max_concurrency
    assert report["embeddings"]["ratio"] > 0 and report["embeddings"]["latency_16_clients"]
    chat = report["chat"]["torch-fp32"]
    assert chat["streams_equal_alone"] and chat["ttft_8_streams"]["n"] == 8
    assert chat["statuses"] == {"200": 12} and chat["errors"] == []  # warm-up + 3 alone + 8
    assert len(report["loadavg_before"]) == 3 and report["machine"]["cpu"]
    assert report["targets"]["chat_ratio"]["got"] == {"torch-fp32": chat["ratio"]}
    assert "embeddings:" in format_load_report(report)


def _embedding(vector):
    return {"data": [{"embedding": vector}]}


def test_an_embedding_equals_alone_within_its_engines_stated_tolerance():
    alone = _embedding([1.0, 0.0, 0.0])
    nudged = _embedding([1.0, 0.05, 0.0])  # cosine 0.9988
    turned = _embedding([1.0, 0.2, 0.0])  # cosine 0.981
    assert same("/v1/embeddings", alone, alone, "onnx-fp32")
    assert not same("/v1/embeddings", nudged, alone, "onnx-fp32")  # fp32: within 1e-4 only
    assert same("/v1/embeddings", nudged, alone, "onnx-int8-partial")
    assert not same("/v1/embeddings", turned, alone, "onnx-int8")
    assert not same("/v1/embeddings", _embedding([1.0, 0.0]), alone, "onnx-int8")


def test_percentiles():
    assert percentiles([]) == {}
    got = percentiles([i / 1000 for i in range(1, 101)])
    assert got == {"p50_ms": 51.0, "p95_ms": 96.0, "p99_ms": 100.0, "n": 100}


def test_plm_bench_serve_runs_the_load_test(monkeypatch, tiny_classifier_dir):
    seen: list = []

    def fake(options, progress):
        seen.append(options)
        raise SystemExit(0)

    monkeypatch.setattr("plmkit.serve.load_test.run_load_test", fake)
    command = ["bench", "serve", "--quick", "--classifier", str(tiny_classifier_dir)]
    assert CliRunner().invoke(app, command).exit_code == 0
    assert seen[0].classifier == str(tiny_classifier_dir) and seen[0].seconds == 3


@pytest.mark.parametrize("scenarios", [["serve", "encode"]])
def test_serve_runs_alone(scenarios):
    result = CliRunner().invoke(app, ["bench", *scenarios])
    assert result.exit_code == 2 and "runs alone" in result.output
