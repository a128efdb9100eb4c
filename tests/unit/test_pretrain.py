"""Pre-training recipes on tiny models: MLM continued / from scratch, CLM, resume, bad input."""

import json
import random
from dataclasses import replace

import pytest
import torch
from conftest import WORDS
from safetensors.torch import load_file
from typer.testing import CliRunner

from plmkit import loading
from plmkit.cli import app
from plmkit.config import PretrainConfig
from plmkit.errors import (
    CheckpointError,
    DataError,
    InvalidInputError,
    PlmError,
    WrongModelKindError,
)
from plmkit.recipes.pretrain_clm import pretrain_clm
from plmkit.recipes.pretrain_common import split_texts
from plmkit.recipes.pretrain_mlm import pretrain_mlm

runner = CliRunner()


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path_factory.getbasetemp() / "plmkit-cache"))


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """300 short 'reviews' over the tiny tokenizers' words, one a line."""
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + " ." for _ in range(300)]
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny(out, data, **overrides):
    """Settings that make a run take about a second."""
    settings = dict(
        data=str(data),
        out=str(out),
        block_size=32,
        batch_size=8,
        max_steps=4,
        eval_blocks=8,
        pseudo_perplexity_texts=4,
        bf16=False,
        show_progress=False,
    )
    return PretrainConfig(**{**settings, **overrides})


def test_mlm_continued_attaches_tied_head_and_reports_before_after(
    tiny_bert_dir, corpus_file, tmp_path
):
    events = []
    config = tiny(tmp_path / "mlm", corpus_file, model=str(tiny_bert_dir), learning_rate=5e-3)
    result = pretrain_mlm(config, on_event=events.append)
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
    assert {"stage", "before", "log", "save", "end", "after"} <= {e["event"] for e in events}
    # the model loads for fill-mask (no missing head) and keeps the encoder's pooler
    assert loading.load_masked_lm(str(result.out)) is not None
    assert "bert.pooler.dense.weight" in load_file(result.out / "model.safetensors")


def test_mlm_masking_split_during_training_is_bert_s(tiny_bert_dir, corpus_file, tmp_path):
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


def test_mlm_from_scratch_with_trained_wordpiece_then_fill_mask_cli(corpus_file, tmp_path):
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


def test_clm_continued_lowers_perplexity_and_generate_cli_works(
    tiny_gpt2_dir, corpus_file, tmp_path
):
    config = tiny(tmp_path / "clm", corpus_file, model=str(tiny_gpt2_dir), learning_rate=1e-2)
    results = pretrain_clm(config).results
    assert results["task"] == "pretrain-clm"
    assert results["after"]["perplexity"] < results["before"]["perplexity"]
    assert results["corpus"]["separators"] == "eos"
    assert len(results["probes"]) == 3 and all("continuation" in p for p in results["probes"])
    out = runner.invoke(app, ["generate", "the movie", "-m", config.out, "--max-new-tokens", "4"])
    assert out.exit_code == 0, out.output


def test_clm_from_scratch_llama_with_trained_bpe(corpus_file, tmp_path):
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


def test_resume_ends_where_an_uninterrupted_run_ends(tiny_gpt2_dir, corpus_file, tmp_path):
    whole = tiny(tmp_path / "whole", corpus_file, model=str(tiny_gpt2_dir), save_steps=2)
    pretrain_clm(whole)

    def crash_after_first_checkpoint(event):
        if event["event"] == "save":
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


def test_a_fresh_run_clears_checkpoints_of_an_earlier_run(tiny_gpt2_dir, corpus_file, tmp_path):
    stale = tmp_path / "out" / "checkpoint-9"
    stale.mkdir(parents=True)
    for name in ("model.safetensors", "trainer_state.json"):
        (stale / name).write_text("{}")
    pretrain_clm(tiny(tmp_path / "out", corpus_file, model=str(tiny_gpt2_dir), max_steps=1))
    assert not stale.exists() and (tmp_path / "out" / "checkpoint-1").is_dir()


def test_labelled_data_holds_out_the_finetune_validation_and_test_rows(tmp_path):
    from plmkit.data import load_dataset_splits

    rows = [
        {"text": f"review number {i} is {'good' if i % 2 else 'bad'}", "label": i % 2}
        for i in range(60)
    ]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    split = split_texts(PretrainConfig(data=str(path), seed=7))
    finetune = load_dataset_splits(str(path), seed=7)
    held = finetune["validation"].texts + finetune["test"].texts
    assert split.held_out == held
    assert set(split.train) == set(finetune["train"].texts)
    assert "validation + test" in split.held_out_from


@pytest.mark.parametrize(
    "objective, overrides, error, message",
    [
        ("mlm", {"from_scratch": True, "arch": "gpt2"}, InvalidInputError, "plm pretrain clm"),
        ("clm", {"from_scratch": True, "arch": "bert"}, InvalidInputError, "plm pretrain mlm"),
        ("mlm", {"from_scratch": True, "size": "huge"}, InvalidInputError, "unknown --size"),
        ("mlm", {"train_tokenizer": True}, InvalidInputError, "only goes with --from-scratch"),
        ("mlm", {"block_size": 4}, InvalidInputError, "too short"),
        ("mlm", {"batch_size": 0}, InvalidInputError, "batch_size must be > 0"),
        ("mlm", {"max_steps": 2.5}, InvalidInputError, "whole number"),
        ("mlm", {"mlm_probability": 1.5}, InvalidInputError, "mlm_probability"),
        ("clm", {"eval_fraction": 0.9}, InvalidInputError, "eval_fraction"),
    ],
)
def test_bad_config(objective, overrides, error, message, tmp_path, corpus_file):
    run = pretrain_mlm if objective == "mlm" else pretrain_clm
    with pytest.raises(error, match=message):
        run(tiny(tmp_path / "out", corpus_file, **overrides))


def test_bad_models_and_data(tiny_bert_dir, tiny_gpt2_dir, corpus_file, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        pretrain_clm(tiny(out, corpus_file, model=str(tiny_bert_dir)))
    with pytest.raises(WrongModelKindError, match="needs an encoder"):
        pretrain_mlm(tiny(out, corpus_file, model=str(tiny_gpt2_dir)))
    with pytest.raises(InvalidInputError, match="longer than the model's 128 positions"):
        pretrain_mlm(tiny(out, corpus_file, model=str(tiny_bert_dir), block_size=256))
    with pytest.raises(DataError, match="does not exist"):
        pretrain_mlm(tiny(out, tmp_path / "missing.txt", model=str(tiny_bert_dir)))
    few = tmp_path / "few.txt"
    few.write_text("the cat sat on the mat .\n" * 30)  # 3 held-out lines: 27 tokens
    with pytest.raises(DataError, match="held-out text is shorter than one block"):
        pretrain_mlm(tiny(out, few, model=str(tiny_bert_dir), block_size=32))
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        pretrain_mlm(tiny(tmp_path / "fresh", corpus_file, model=str(tiny_bert_dir), resume=True))
    with pytest.raises(InvalidInputError, match="needs a \\[MASK\\]"):
        pretrain_mlm(tiny(out, corpus_file, model=str(tiny_bert_dir), probes=["no mask"]))
    with pytest.raises(InvalidInputError, match="no mask token"):
        pretrain_mlm(tiny(out, corpus_file, from_scratch=True, tokenizer=str(tiny_gpt2_dir)))


def test_cli_pretrain_prints_before_after_and_bad_input_exits_2(
    tiny_bert_dir, corpus_file, tmp_path
):
    out = tmp_path / "cli"
    args = ["pretrain", "mlm", "-m", str(tiny_bert_dir), "--data", str(corpus_file)]
    args += ["--out", str(out), "--block-size", "32", "--batch-size", "8", "--max-steps", "2"]
    args += ["--eval-blocks", "4", "--pseudo-perplexity-texts", "2", "--fp32"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for line in ("masked-token accuracy", "pseudo-perplexity", "[MASK]", "blocks of 32"):
        assert line in result.output
    as_json = runner.invoke(app, [*args, "--json"])
    assert json.loads(as_json.output)["training"]["steps"] == 2
    for bad in (["pretrain", "nsp"], ["pretrain", "clm", "--from-scratch", "--arch", "bert"]):
        result = runner.invoke(app, bad)
        assert result.exit_code == 2 and result.output.startswith("error[PLM005]")
    assert issubclass(InvalidInputError, PlmError)
