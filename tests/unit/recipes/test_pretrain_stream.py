"""recipes/pretrain_stream.py: when a corpus is streamed, its hashed held-out split, and MLM /
CLM pre-training end to end on blocks read from the memory-mapped Arrow cache."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.config import PretrainConfig
from plmkit.errors import CheckpointError, InvalidInputError
from plmkit.lm.streaming import PackedFiles
from plmkit.recipes import pretrain_stream
from plmkit.recipes.pretrain_clm import pretrain_clm
from plmkit.recipes.pretrain_mlm import pretrain_mlm
from plmkit.recipes.pretrain_stream import held_out_flags, should_stream, split_files
from plmkit.training.events import CheckpointSaved

runner = CliRunner()


def test_large_txt_corpora_stream_and_the_flag_decides_either_way(corpus_file, tmp_path):
    config = PretrainConfig(data=str(corpus_file))
    assert not should_stream(config)  # 300 lines: far below STREAM_FROM_MIB
    assert should_stream(replace(config, stream=True))
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:  # a sparse file as large as the threshold
        handle.truncate(pretrain_stream.STREAM_FROM_MIB << 20)
    assert should_stream(PretrainConfig(data=str(big)))
    assert not should_stream(PretrainConfig(data=str(big), stream=False))
    assert not should_stream(PretrainConfig(data="movie-snippets"))
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\nfine,1\n")
    assert not should_stream(PretrainConfig(data=str(table)))
    with pytest.raises(InvalidInputError, match="--stream reads .txt files"):
        should_stream(PretrainConfig(data=str(table), stream=True))


def test_the_hashed_split_is_seeded_and_keeps_duplicates_together():
    texts = [f"document number {i}" for i in range(4000)]
    flags = held_out_flags(texts, seed=42, fraction=0.1)
    assert 0.08 < sum(flags) / len(flags) < 0.12
    assert held_out_flags(texts, seed=42, fraction=0.1) == flags
    assert held_out_flags(texts, seed=43, fraction=0.1) != flags
    assert held_out_flags(texts[:5] * 3, seed=42, fraction=0.1) == flags[:5] * 3


def test_split_files_holds_out_a_share_and_hashes_the_bytes(corpus_file):
    config = PretrainConfig(data=str(corpus_file), stream=True, show_progress=False)
    split = split_files(config)
    lines = corpus_file.read_text().splitlines()
    assert split.train_documents + split.held_out_documents == len(lines)
    assert 10 <= split.held_out_documents <= 60  # about 10% of 300
    assert len(split.held_out) == split.held_out_documents  # a small corpus: every text
    flags = held_out_flags(lines, config.seed, config.eval_fraction)
    assert split.held_out == [t for t, held in zip(lines, flags, strict=True) if held]
    trained = [t for t, held in zip(lines, flags, strict=True) if not held]
    assert list(split.train[:3]) == trained[:3]
    assert split.data_hash() == hashlib.sha256(corpus_file.read_bytes() + b"\x00").hexdigest()
    assert "hashed 10%" in split.held_out_from


def test_held_out_texts_kept_in_memory_are_capped(corpus_file):
    config = PretrainConfig(
        data=str(corpus_file),
        stream=True,
        eval_fraction=0.5,
        eval_blocks=1,
        block_size=8,
        pseudo_perplexity_texts=2,
        show_progress=False,
    )
    split = split_files(config)
    assert split.held_out_documents > 100
    assert 12 <= len(split.held_out) < 40  # 8 x 16 characters or more, and 2 + 10 texts


def test_mlm_streamed_trains_on_arrow_blocks_and_records_it(
    tiny, tiny_bert_dir, corpus_file, tmp_path
):
    config = tiny(tmp_path / "mlm", corpus_file, model=str(tiny_bert_dir), stream=True)
    result = pretrain_mlm(config)
    saved = json.loads((result.out / "plmkit.json").read_text())
    corpus = saved["corpus"]
    assert corpus["streamed"] is True and corpus["cache"].endswith("arrow")
    assert corpus["train_blocks"] * 32 + corpus["dropped_tail_tokens"] == corpus["train_tokens"]
    assert corpus["held_out_blocks"] == 8 and corpus["separators"] == "template"
    assert saved["training"]["steps"] == 4 and saved["config"]["stream"] is True
    assert saved["data_hash"] == hashlib.sha256(corpus_file.read_bytes() + b"\x00").hexdigest()
    assert saved["before"]["pseudo_perplexity"]["n_texts"] == 4


def test_clm_streamed_from_scratch_trains_its_bpe_on_the_memory_map(tiny, corpus_file, tmp_path):
    config = tiny(
        tmp_path / "clm",
        corpus_file,
        from_scratch=True,
        train_tokenizer=True,
        vocab_size=300,
        stream=True,
    )
    results = pretrain_clm(config).results
    assert results["tokenizer"]["trained"] is True and results["tokenizer"]["vocab_size"] <= 300
    assert results["corpus"]["streamed"] is True and results["corpus"]["separators"] == "eos"
    assert results["after"]["perplexity"] < results["before"]["perplexity"]


def test_streamed_resume_ends_where_an_uninterrupted_run_ends(
    tiny, tiny_gpt2_dir, corpus_file, tmp_path
):
    def settings(out, **more):
        return tiny(out, corpus_file, model=str(tiny_gpt2_dir), save_steps=2, stream=True, **more)

    pretrain_clm(settings(tmp_path / "whole"))

    def crash_after_first_checkpoint(event):
        if isinstance(event, CheckpointSaved):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain_clm(settings(tmp_path / "parts"), on_event=crash_after_first_checkpoint)
    results = pretrain_clm(settings(tmp_path / "parts", resume=True)).results
    assert results["training"]["resumed_from"].endswith("checkpoint-2")
    resumed = load_file(tmp_path / "parts" / "model.safetensors")
    for name, tensor in load_file(tmp_path / "whole" / "model.safetensors").items():
        torch.testing.assert_close(resumed[name], tensor, msg=name)
    with pytest.raises(CheckpointError, match="stream was True when .* was written, now False"):
        pretrain_clm(replace(settings(tmp_path / "parts", resume=True), stream=False))


def test_plm_pretrain_stream_on_the_command_line(tiny_bert_dir, corpus_file, tmp_path):
    out = tmp_path / "cli"
    args = ["pretrain", "mlm", "--data", str(corpus_file), "--out", str(out), "--stream"]
    args += ["--model", str(tiny_bert_dir), "--block-size", "32", "--batch-size", "8"]
    args += ["--max-steps", "2", "--eval-blocks", "4", "--pseudo-perplexity-texts", "0"]
    result = runner.invoke(app, [*args, "--fp32", "--json"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "plmkit.json").read_text())
    assert saved["corpus"]["streamed"] is True and (out / "report.html").exists()


def test_packed_files_feed_the_trainer_the_dicts_packed_corpora_do(
    tiny_bert_dir, corpus_file, tmp_path
):
    from transformers import AutoTokenizer

    from plmkit.recipes.pretrain_corpus import pack

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    config = PretrainConfig(data=str(corpus_file), block_size=16, stream=True, show_progress=False)
    corpus = pack(split_files(config), tokenizer, config, model_max_length=128)
    assert isinstance(corpus.train, PackedFiles)
    item = corpus.train.to_dataset("mlm")[0]
    assert item["input_ids"].dtype == torch.long and item["input_ids"].shape == (16,)
    assert item["special_tokens_mask"].dtype == torch.bool
    assert set(corpus.train.to_dataset("clm")[0]) == {"input_ids", "attention_mask", "labels"}


@pytest.mark.slow
def test_two_ranks_stream_one_corpus_and_only_rank_0_writes(tiny_bert_dir, corpus_file, tmp_path):
    """torchrun, 2 processes (gloo): rank 0 splits and packs into the Arrow cache, rank 1 opens
    its files; both train on different blocks and end with the same weights; every file-system
    change under the run's directory and the Arrow caches is rank 0's."""
    worker = Path(__file__).parents[1] / "training" / "ddp_worker.py"
    root, trace = tmp_path / "root", tmp_path / "trace"
    trace.mkdir()
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PLMKIT_CACHE=str(root / "plmkit-cache"),
        HF_DATASETS_CACHE=str(root / "hf-datasets"),
        PLMKIT_TEST_TRACE=str(trace),
        PLMKIT_TEST_WATCH=str(root),
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(worker), "pretrain", "mlm", "--stream"]
    command += ["--data", str(corpus_file), "--out", str(root / "out")]
    command += ["--model", str(tiny_bert_dir), "--block-size", "32", "--batch-size", "8"]
    command += ["--max-steps", "2", "--eval-blocks", "4", "--pseudo-perplexity-texts", "0"]
    done = subprocess.run(
        [*command, "--fp32"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    first, second = (json.loads((trace / f"rank{r}.json").read_text()) for r in (0, 1))
    # rank 1 may only touch plmkit's own cache root (mkdir of what exists; the CPU probe's
    # cpu.json, written by whichever rank measures it): nothing of the run, no Arrow file
    ours = ("/out", "/hf-datasets", "/corpora/arrow")
    assert [w for w in second["writes"] if any(part in w[1] for part in ours)] == []
    assert any("/corpora/arrow/" in path for _, path in first["writes"])
    assert not set(first["samples"]) & set(second["samples"])  # each rank its own blocks
    assert first["weights"] == second["weights"]
    saved = json.loads((root / "out" / "plmkit.json").read_text())
    assert saved["corpus"]["streamed"] and saved["training"]["distributed"]["world_size"] == 2
