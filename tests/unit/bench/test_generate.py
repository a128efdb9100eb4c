"""`plm bench generate` on a tiny Llama: HF fp32 baseline, every decoder backend streaming,
TTFT, perplexity vs fp32, bandwidth ceilings, and several prompts at once."""

from __future__ import annotations

import re

import pytest

from plmkit.bench import BenchOptions, run_bench
from plmkit.bench.generate import PROMPTS, chat_ids
from plmkit.bench.limits import decoder_parameters

LIMITS = {"memory_bandwidth_gbs": 10.0, "matmul_fp32_gflops": 50.0}


@pytest.fixture(autouse=True)
def small_world(tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("plmkit.bench.machine.limits", lambda quick=False: dict(LIMITS))


def test_generate_rows(tiny_llama_dir):
    from transformers import AutoConfig

    options = BenchOptions(quick=True, decoder=str(tiny_llama_dir), concurrent=3, all_engines=True)
    rows = run_bench(["generate"], options)["scenarios"]["generate"]["rows"]
    baseline = rows[0]
    assert baseline["baseline"] and baseline["ttft_ms"] > 0
    assert baseline["name"] == "transformers generate fp32 (batch 1, greedy)"
    parameters = decoder_parameters(AutoConfig.from_pretrained(tiny_llama_dir))
    assert baseline["limit"] == pytest.approx(10e9 / (4 * parameters), rel=1e-3)
    singles = [r for r in rows[1:] if "(batch 1)" in r["name"]]
    assert any(r["name"] == "plmkit generate --backend torch-fp32 (batch 1)" for r in singles)
    for row in singles:
        assert row["ttft_ms"] > 0 and row["vs"] == baseline["name"]
        assert row["ratio"] == pytest.approx(row["throughput"] / baseline["throughput"], rel=0.05)
        assert row["quality"].startswith("perplexity ")
    fp32 = next(r for r in singles if "torch-fp32" in r["name"])
    assert float(fp32["quality"].split()[1].rstrip("x")) == pytest.approx(1.0, abs=0.01)
    batched = [r for r in rows if "prompts at once" in r["name"]]
    assert batched
    for row in batched:
        assert row["name"].endswith(", 3 prompts at once") and "(batch 1)" in row["vs"]
        total = int(row["quality"].removesuffix(" tokens in all"))
        assert 0 < total <= 3 * 8 and row["ratio"] > 0  # 3 prompts, at most 8 new tokens each
        assert row["rounds"] >= 1  # --all-engines times every one
        # over the reference stream timed again in the batches' own rounds
        paired = re.search(r"stream ([\d.]+) tok/s in these rounds", row["note"])
        assert paired, row["note"]
        assert row["ratio"] == pytest.approx(row["throughput"] / float(paired[1]), rel=0.01)


def test_batches_far_slower_than_one_stream_are_probed_not_timed(tiny_llama_dir, monkeypatch):
    """Without --all-engines, a batch engine whose short probe runs below half of the
    reference single stream is reported with the probe's figure, not raced; `auto`'s batch
    engine is timed whatever its probe."""
    from plmkit.bench import generate

    options = BenchOptions(quick=True, decoder=str(tiny_llama_dir), concurrent=3)
    real = generate._concurrent
    picked = []

    def concurrent(options, tokenizer, singles, names, auto, auto_batch):
        singles = dict.fromkeys(singles, 1e9)  # a reference stream no batch can come near
        picked.append(auto_batch)
        return real(options, tokenizer, singles, names, auto, auto_batch)

    monkeypatch.setattr(generate, "_concurrent", concurrent)
    rows = run_bench(["generate"], options)["scenarios"]["generate"]["rows"]
    batched = [r for r in rows if "prompts at once" in r["name"]]
    autos = [r for r in batched if r["name"].startswith(f"plmkit --backend {picked[0]},")]
    assert len(batched) >= 2 and len(autos) == 1
    assert autos[0]["rounds"] >= 1 and "auto picks this for batches" in autos[0]["note"]
    for row in batched:
        if row is autos[0]:
            continue
        assert row["rounds"] is None and 0 < row["throughput"] < 0.5e9
        assert row["note"].startswith("skipped, not timed: a short probe ran at")
        assert "(its batch 1 run; the probe is 8 new tokens a prompt" in row["note"]


def test_batches_are_compared_with_autos_single_stream():
    """The reference stream is the engine `auto` runs one prompt on, not a faster one that
    `auto` rejected for its answers; without `auto`'s pick timed, the fastest llama.cpp."""
    from plmkit.bench.generate import reference_stream

    singles = {"torch-fp32": 14.0, "llama-cpp-q8": 75.0, "llama-cpp-f16": 49.0, "ct2-int8": 80.0}
    assert reference_stream(singles, "llama-cpp-f16") == "llama-cpp-f16"
    assert reference_stream(singles, "torch-bf16") == "llama-cpp-q8"  # auto's not timed
    assert reference_stream({"torch-fp32": 14.0, "ct2-int8": 41.0}, "") == "ct2-int8"


def test_chat_ids_apply_the_template(tiny_llama_dir, tiny_gpt2_dir):
    from transformers import AutoTokenizer

    chat = AutoTokenizer.from_pretrained(tiny_llama_dir)
    text = chat.decode(chat_ids(chat, PROMPTS[0]))
    assert text == f"<|im_start|>user\n{PROMPTS[0]}<|im_end|>\n<|im_start|>assistant\n"
    plain = AutoTokenizer.from_pretrained(tiny_gpt2_dir)  # no chat template: the raw prompt
    assert chat_ids(plain, "Hello") == plain("Hello")["input_ids"]
