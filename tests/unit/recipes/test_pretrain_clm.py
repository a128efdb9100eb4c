"""recipes/pretrain_clm.py on tiny models: continued, from scratch with a trained BPE, resume."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.errors import CheckpointError
from plmkit.recipes.pretrain_clm import default_probes, pretrain_clm
from plmkit.training.events import CheckpointSaved

runner = CliRunner()


def test_clm_continued_lowers_perplexity_and_generate_cli_works(
    tiny, tiny_gpt2_dir, corpus_file, tmp_path
):
    config = tiny(tmp_path / "clm", corpus_file, model=str(tiny_gpt2_dir), learning_rate=1e-2)
    results = pretrain_clm(config).results
    assert results["task"] == "pretrain-clm"
    assert results["after"]["perplexity"] < results["before"]["perplexity"]
    assert results["corpus"]["separators"] == "eos"
    assert len(results["probes"]) == 3 and all("continuation" in p for p in results["probes"])
    out = runner.invoke(app, ["generate", "the movie", "-m", config.out, "--max-new-tokens", "4"])
    assert out.exit_code == 0, out.output


def test_clm_from_scratch_llama_with_trained_bpe(tiny, corpus_file, tmp_path):
    config = tiny(
        tmp_path / "llama",
        corpus_file,
        from_scratch=True,
        arch="llama",
        train_tokenizer=True,
        vocab_size=300,
        max_steps=2,
        probes=["the film"],
    )
    results = pretrain_clm(config).results
    assert results["architecture"]["class"] == "LlamaForCausalLM"
    assert results["tokenizer"] == {
        "source": "trained on the training texts",
        "kind": "bpe",
        "trained": True,
        "vocab_size": 300,
    }
    assert results["probes"][0]["prompt"] == "the film"


def test_resume_ends_where_an_uninterrupted_run_ends(tiny, tiny_gpt2_dir, corpus_file, tmp_path):
    whole = tiny(tmp_path / "whole", corpus_file, model=str(tiny_gpt2_dir), save_steps=2)
    pretrain_clm(whole)

    def crash_after_first_checkpoint(event):
        if isinstance(event, CheckpointSaved):
            raise KeyboardInterrupt

    first = tiny(tmp_path / "parts", corpus_file, model=str(tiny_gpt2_dir), save_steps=2)
    with pytest.raises(KeyboardInterrupt):
        pretrain_clm(first, on_event=crash_after_first_checkpoint)
    assert not (tmp_path / "parts" / "model.safetensors").exists()
    (tmp_path / "parts" / ".tmp-checkpoint-3-killed").mkdir()  # a save cut short: ignored
    rest = tiny(
        tmp_path / "parts", corpus_file, model=str(tiny_gpt2_dir), save_steps=2, resume=True
    )
    results = pretrain_clm(rest).results
    assert results["training"]["resumed_from"].endswith("checkpoint-2")
    assert results["training"]["steps"] == 4
    resumed = load_file(tmp_path / "parts" / "model.safetensors")
    reference = load_file(tmp_path / "whole" / "model.safetensors")
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, msg=name)
    changed = tiny(tmp_path / "parts", corpus_file, model=str(tiny_gpt2_dir), block_size=16)
    with pytest.raises(CheckpointError, match="block_size was 32 when .* was written, now 16"):
        pretrain_clm(replace(changed, resume=True))


def test_a_fresh_run_clears_checkpoints_of_an_earlier_run(
    tiny, tiny_gpt2_dir, corpus_file, tmp_path
):
    stale = tmp_path / "out" / "checkpoint-9"
    stale.mkdir(parents=True)
    for name in ("model.safetensors", "trainer_state.json"):
        (stale / name).write_text("{}")
    pretrain_clm(tiny(tmp_path / "out", corpus_file, model=str(tiny_gpt2_dir), max_steps=1))
    assert not stale.exists() and (tmp_path / "out" / "checkpoint-1").is_dir()


def test_default_probes_are_the_first_words_of_held_out_texts():
    texts = ["one two three four", "short", "a b c d e", "x y z w v"]
    assert default_probes(texts, n=2) == ["one two three", "a b c"]
