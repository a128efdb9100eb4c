"""recipes/pretrain_mlm.py on tiny models: continued with a tied head, BERT's masking split,
from scratch with a trained WordPiece."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from plmkit import loading
from plmkit.cli import app
from plmkit.recipes.pretrain_mlm import default_probes, pretrain_mlm
from plmkit.training import events

runner = CliRunner()


def test_mlm_continued_attaches_tied_head_and_reports_before_after(
    tiny, tiny_bert_dir, corpus_file, tmp_path
):
    sent = []
    config = tiny(tmp_path / "mlm", corpus_file, model=str(tiny_bert_dir), learning_rate=5e-3)
    result = pretrain_mlm(config, on_event=sent.append)
    saved = json.loads((result.out / "plmkit.json").read_text())
    assert saved["task"] == "pretrain-mlm" and saved["seed"] == 42
    assert saved["architecture"]["decoder_tied_to_word_embeddings"] is True
    assert "cls.predictions.transform.dense.weight" in saved["architecture"]["new_weights"]
    for key in ("versions", "hardware", "data_hash", "model", "wall_seconds", "dtype"):
        assert key in saved
    before, after = saved["before"], saved["after"]
    assert after["loss"] < before["loss"]  # same held-out masks, a head that learned something
    assert before["masking"] == after["masking"]  # identical masks before and after
    for scores in (before, after):
        assert scores["pseudo_perplexity"]["n_texts"] == 4
    assert saved["training"]["steps"] == 4 and saved["training"]["tokens_per_second"] > 0
    assert saved["corpus"]["padding_fraction"] == 0.0
    assert [p["text"].count("[MASK]") for p in saved["probes"]] == [1, 1, 1]
    # the events, in order: stages, figures before, the Trainer's run, figures after
    kinds = [type(e) for e in sent]
    assert kinds[0] is events.Stage and events.ScoresBefore in kinds
    assert kinds.index(events.ScoresBefore) < kinds.index(events.TrainStart)
    assert kinds.index(events.TrainEnd) < kinds.index(events.ScoresAfter)
    assert {events.TrainLog, events.CheckpointSaved} <= set(kinds)
    assert sent[kinds.index(events.ScoresAfter)].scores["loss"] == after["loss"]
    # the saved model loads for fill-mask with every weight (load_masked_lm fails on a missing
    # head), its decoder still tied to the word embeddings, the trained head as saved, and
    # the encoder's pooler kept
    weights = load_file(result.out / "model.safetensors")
    loaded = loading.load_masked_lm(str(result.out))
    assert loaded.get_output_embeddings().weight is loaded.get_input_embeddings().weight
    head = "cls.predictions.transform.dense.weight"
    torch.testing.assert_close(loaded.state_dict()[head], weights[head])
    assert "bert.pooler.dense.weight" in weights


def test_mlm_masking_split_during_training_is_bert_s(tiny, tiny_bert_dir, corpus_file, tmp_path):
    config = tiny(
        tmp_path / "mlm",
        corpus_file,
        model=str(tiny_bert_dir),
        max_steps=12,
        batch_size=32,
        save_steps=100,
        pseudo_perplexity_texts=0,
    )
    split = pretrain_mlm(config).results["masking_during_training"]
    assert split["n_picked"] > 1400  # 12 steps x 32 blocks x 32 tokens, specials never picked
    assert split["picked_fraction"] == pytest.approx(0.15, abs=0.02)
    assert split["mask_fraction"] == pytest.approx(0.8, abs=0.04)
    assert split["random_fraction"] == pytest.approx(0.1, abs=0.03)
    assert split["kept_fraction"] == pytest.approx(0.1, abs=0.03)


def test_mlm_from_scratch_with_trained_wordpiece_then_fill_mask_cli(tiny, corpus_file, tmp_path):
    config = tiny(
        tmp_path / "scratch",
        corpus_file,
        from_scratch=True,
        arch="distilbert",
        train_tokenizer=True,
        vocab_size=200,
        whole_word=True,
        probes=["the movie was [MASK] ."],
    )
    results = pretrain_mlm(config).results
    assert results["model"] == {"name": "distilbert-tiny", "source": "scratch", "revision": None}
    assert results["tokenizer"]["kind"] == "wordpiece" and results["tokenizer"]["vocab_size"] <= 200
    assert results["architecture"]["class"] == "DistilBertForMaskedLM"
    assert len(results["probes"][0]["top"]) == 5
    filled = runner.invoke(app, ["fill-mask", "the [MASK] was good .", "-m", config.out])
    assert filled.exit_code == 0, filled.output
    positional = runner.invoke(app, ["fill-mask", config.out, "the [MASK] was good ."])
    assert positional.output == filled.output  # `plm fill-mask runs/mlm "..."` works too
    too_many = runner.invoke(app, ["fill-mask", config.out, "the [MASK]", "-m", config.out])
    assert too_many.exit_code == 2 and "takes one text" in too_many.output


def test_default_probes_mask_the_middle_word_of_long_enough_texts():
    texts = ["too short", "the cat sat on the mat", "a b c", "x y z w", "more"]
    assert default_probes(texts, "[MASK]", n=2) == ["the cat sat [MASK] the mat", "a [MASK] c"]
