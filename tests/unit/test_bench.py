"""`plm bench` on tiny models: it runs, every row has its numbers, ratios point at baselines."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from plmkit import bench
from plmkit.bench import BenchOptions, format_report, machine, run_bench
from plmkit.bench.measure import PeakMemory, Row, percentiles
from plmkit.errors import InvalidInputError

SENTENCES = [
    "the cat sat on the mat",
    "this movie was good and the acting was great",
    "the worst film ever , boring and dull",
    "once upon a time there was a king",
] * 3


@pytest.fixture(autouse=True)
def small_world(tmp_path, monkeypatch):
    """Own cache; the movie sentences replaced by a dozen tiny-vocabulary ones."""
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    labels = [0, 1, 0, 1] * 3
    monkeypatch.setattr(
        "plmkit.bench.scenarios.movie_sentences", lambda: (SENTENCES, labels, SENTENCES, labels)
    )


def test_bench_encode_quick_json(tiny_bert_dir):
    from plmkit.cli import app

    result = CliRunner().invoke(
        app, ["bench", "encode", "--quick", "--json", "--encoder", str(tiny_bert_dir)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert {"hardware", "versions", "limits", "scenarios"} <= set(report)
    assert report["limits"]["memory_bandwidth_gbs"] > 0
    rows = report["scenarios"]["encode"]["rows"]
    baseline = rows[0]
    assert baseline["baseline"] and baseline["name"].startswith("sentence-transformers")
    plmkit_rows = [r for r in rows if not r["baseline"]]
    assert {r["name"].split()[-1] for r in plmkit_rows} >= {"torch-fp32"}
    for row in plmkit_rows:
        assert row["throughput"] > 0 and row["p50_ms"] > 0 and row["p95_ms"] >= row["p50_ms"]
        expected = row["throughput"] / baseline["throughput"]
        assert row["ratio"] == pytest.approx(expected, rel=0.05, abs=0.002)
        assert row["quality"].startswith("cosine vs fp32")
    fp32 = next(r for r in plmkit_rows if r["name"].endswith("torch-fp32"))
    assert float(fp32["quality"].split()[-1]) > 0.999  # same model as sentence-transformers


def test_bench_classify_and_generate_quick(tiny_bert_dir, tiny_llama_dir, tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_bert_dir)
    config.num_labels, config.id2label = 2, {0: "negative", 1: "positive"}
    config.label2id = {"negative": 0, "positive": 1}
    BertForSequenceClassification(config).save_pretrained(tmp_path / "clf")
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(tmp_path / "clf")
    options = BenchOptions(
        quick=True, classifier=str(tmp_path / "clf"), decoder=str(tiny_llama_dir), concurrent=3
    )
    report = run_bench(["classify", "generate"], options)
    classify = report["scenarios"]["classify"]["rows"]
    assert classify[0]["baseline"] and "pipeline" in classify[0]["name"]
    assert all(r["quality"].startswith("accuracy") for r in classify)
    generate = report["scenarios"]["generate"]["rows"]
    assert generate[0]["baseline"] and generate[0]["ttft_ms"] > 0
    singles = [r for r in generate[1:] if "(batch 1)" in r["name"]]
    assert singles and all(r["ttft_ms"] > 0 and r["ratio"] > 0 for r in singles)
    assert all("perplexity" in r["quality"] for r in singles)
    batched = [r for r in generate if "prompts at once" in r["name"]]
    assert batched and all(r["ratio"] > 0 and "(batch 1)" in r["vs"] for r in batched)
    text = format_report(report)
    assert "== classify" in text and "== generate" in text and "base" in text


def test_unknown_scenario_and_missing_plugin(monkeypatch):
    with pytest.raises(InvalidInputError):
        bench.expand(["encode", "speed"])
    assert bench.expand(["all"]) == list(bench.SCENARIOS)
    monkeypatch.setitem(bench.SCENARIOS, "train", "plmkit.bench.not_written_yet:scenario")
    report = run_bench(["train"], BenchOptions(quick=True))
    assert "train" in report["skipped"] and report["scenarios"] == {}


def test_a_registered_scenario_runs(monkeypatch):
    monkeypatch.setitem(bench.SCENARIOS, "toy", f"{__name__}:toy_scenario")
    report = run_bench(["toy"], BenchOptions(quick=True))
    base, fast = report["scenarios"]["toy"]["rows"]
    assert fast["ratio"] == pytest.approx(4.0)
    assert fast["of_limit"] == pytest.approx(0.5)


def toy_scenario(options: BenchOptions) -> list[Row]:
    return [
        Row("toy", "slow way", 10.0, "things/s", baseline=True),
        Row("toy", "fast way", 40.0, "things/s", vs="slow way", limit=80.0),
    ]


def test_measure_helpers():
    assert percentiles([]) == (None, None)
    p50, p95 = percentiles([0.001, 0.002, 0.003, 0.004])
    assert p50 == pytest.approx(2.5) and 3.5 < p95 <= 4.0
    with PeakMemory() as memory:
        block = bytearray(64 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
    assert memory.mb > 32
    limits = machine.limits(quick=True)
    assert limits["matmul_fp32_gflops"] > 0
    assert machine.versions()["torch"] != "not installed"
