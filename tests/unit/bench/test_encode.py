"""`plm bench encode` on a tiny model: sentence-transformers baseline, every encoder backend,
ratios, cosine quality and the FLOP ceiling of the fp32 rows."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from plmkit.bench.limits import encoder_flops_per_text

SENTENCES = [
    "the cat sat on the mat",
    "this movie was good and the acting was great",
    "the worst film ever , boring and dull",
    "once upon a time there was a king",
] * 3
LIMITS = {"memory_bandwidth_gbs": 10.0, "matmul_fp32_gflops": 50.0}


@pytest.fixture(autouse=True)
def small_world(tmp_path, monkeypatch):
    """Own cache, fixed machine limits, and a dozen tiny-vocabulary sentences."""
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("plmkit.bench.machine.limits", lambda quick=False: dict(LIMITS))
    labels = [0, 1, 0, 1] * 3
    monkeypatch.setattr(
        "plmkit.bench.encode.movie_sentences", lambda: (SENTENCES, labels, SENTENCES, labels)
    )


def test_bench_encode_quick_json(tiny_bert_dir):
    from transformers import AutoConfig, AutoTokenizer

    from plmkit.cli import app

    result = CliRunner().invoke(
        app,
        ["bench", "encode", "--quick", "--json", "--all-engines", "--encoder", str(tiny_bert_dir)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["limits"] == LIMITS
    rows = report["scenarios"]["encode"]["rows"]
    baseline = rows[0]
    assert baseline["baseline"] and baseline["name"] == "sentence-transformers encode (defaults)"
    assert baseline["quality"] == "reference (fp32)" and baseline["ratio"] is None
    plmkit_rows = [r for r in rows if not r["baseline"]]
    assert {r["name"].split()[-1] for r in plmkit_rows} >= {"torch-fp32"}
    assert all(r["name"].startswith("plmkit encode --backend ") for r in plmkit_rows)
    for row in plmkit_rows:
        assert row["unit"] == "texts/s" and row["vs"] == baseline["name"]
        assert row["throughput"] > 0 and row["p50_ms"] > 0 and row["p95_ms"] >= row["p50_ms"]
        expected = row["throughput"] / baseline["throughput"]
        assert row["ratio"] == pytest.approx(expected, rel=0.05, abs=0.002)
        assert row["quality"].startswith("cosine vs fp32")
    fp32 = next(r for r in plmkit_rows if r["name"].endswith("torch-fp32"))
    assert float(fp32["quality"].split()[-1]) > 0.999  # same model as sentence-transformers
    # the fp32 ceiling: 50 GFLOP/s over the FLOPs of one text of the mean length
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    mean_tokens = sum(len(x) for x in tokenizer(SENTENCES)["input_ids"]) / len(SENTENCES)
    flops = encoder_flops_per_text(AutoConfig.from_pretrained(tiny_bert_dir), mean_tokens)
    assert fp32["limit"] == pytest.approx(50e9 / flops, rel=1e-3)
    assert fp32["of_limit"] == pytest.approx(fp32["throughput"] / fp32["limit"], abs=0.002)
    int8 = [r for r in plmkit_rows if "int8" in r["name"]]
    assert all(r["limit"] is None and r["of_limit"] is None for r in int8)  # not measured


def test_a_far_slower_engine_is_skipped_with_its_probe(tiny_bert_dir, monkeypatch):
    """Probes (faked: torch-bf16's at 2% of fp32's) skip torch-bf16; the rest are timed."""
    from plmkit.bench import BenchOptions
    from plmkit.bench.encode import scenario

    rates = iter([100.0, 2.0, 90.0])  # torch-fp32 is probed first, then torch-bf16
    monkeypatch.setattr("plmkit.bench.encode.probe_rate", lambda work, units: next(rates))
    three = ["torch-fp32", "torch-bf16", "torch-int8"]  # no ONNX export: a cheaper test
    monkeypatch.setattr("plmkit.backends.registry.installed", lambda kind: three)
    monkeypatch.setattr("plmkit.bench.encode.auto_choice", lambda *args, **kwargs: "torch-fp32")
    rows = [r.to_dict() for r in scenario(BenchOptions(quick=True, encoder=str(tiny_bert_dir)))]
    skipped = [r for r in rows if r["note"].startswith("skipped")]
    assert [r["name"] for r in skipped] == ["plmkit encode --backend torch-bf16"]
    assert skipped[0]["throughput"] == 2.0 and skipped[0]["p50_ms"] is None
    assert (
        "0.02x torch-fp32's 100.0" in skipped[0]["note"] and "--all-engines" in skipped[0]["note"]
    )
    timed = [r for r in rows if r not in skipped]
    assert all(r["p50_ms"] is not None for r in timed)
    assert all(len(r["round_seconds"]) == r["rounds"] >= 1 for r in timed)
    assert {r["name"] for r in timed} >= {
        "plmkit encode --backend torch-fp32",
        "plmkit encode --backend torch-int8",
    }
