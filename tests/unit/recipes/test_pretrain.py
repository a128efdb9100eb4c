"""recipes/pretrain.py: `pretrain(config, objective)` dispatches, and rejects bad input before
reading anything; `plm pretrain` on top of it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.errors import (
    CheckpointError,
    DataError,
    InvalidInputError,
    PlmError,
    WrongModelKindError,
)
from plmkit.recipes.pretrain import OBJECTIVES, pretrain

runner = CliRunner()


def test_pretrain_dispatches_on_the_objective(tiny, tiny_gpt2_dir, corpus_file, tmp_path):
    config = tiny(tmp_path / "clm", corpus_file, model=str(tiny_gpt2_dir), max_steps=1)
    result = pretrain(config, "clm")
    assert result.results["task"] == "pretrain-clm" and result.out == tmp_path / "clm"
    assert OBJECTIVES == ("mlm", "clm")


def test_an_unknown_objective_fails_before_reading_the_data(tiny, tmp_path):
    with pytest.raises(InvalidInputError, match="unknown objective 'nsp'") as error:
        pretrain(tiny(tmp_path / "out", tmp_path / "missing.txt"), "nsp")
    assert error.value.fix == "use plm pretrain mlm or clm"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "objective, overrides, message",
    [
        ("mlm", {"from_scratch": True, "arch": "gpt2"}, "plm pretrain clm"),
        ("clm", {"from_scratch": True, "arch": "bert"}, "plm pretrain mlm"),
        ("mlm", {"from_scratch": True, "size": "huge"}, "unknown --size"),
        ("mlm", {"train_tokenizer": True}, "only goes with --from-scratch"),
        ("mlm", {"block_size": 4}, "too short"),
        ("mlm", {"batch_size": 0}, "batch_size must be > 0"),
        ("mlm", {"max_steps": 2.5}, "whole number"),
        ("mlm", {"mlm_probability": 1.5}, "mlm_probability"),
        ("clm", {"eval_fraction": 0.9}, "eval_fraction"),
    ],
)
def test_bad_config_fails_before_reading_the_data(tiny, objective, overrides, message, tmp_path):
    # the data does not exist: a DataError would mean it was read before the check
    with pytest.raises(InvalidInputError, match=message):
        pretrain(tiny(tmp_path / "out", tmp_path / "missing.txt", **overrides), objective)


def test_bad_models_and_data(tiny, tiny_bert_dir, tiny_gpt2_dir, corpus_file, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        pretrain(tiny(out, corpus_file, model=str(tiny_bert_dir)), "clm")
    with pytest.raises(WrongModelKindError, match="needs an encoder"):
        pretrain(tiny(out, corpus_file, model=str(tiny_gpt2_dir)), "mlm")
    with pytest.raises(InvalidInputError, match="longer than the model's 128 positions"):
        pretrain(tiny(out, corpus_file, model=str(tiny_bert_dir), block_size=256), "mlm")
    with pytest.raises(DataError, match="does not exist"):
        pretrain(tiny(out, tmp_path / "missing.txt", model=str(tiny_bert_dir)), "mlm")
    few = tmp_path / "few.txt"
    few.write_text("the cat sat on the mat .\n" * 30)  # 3 held-out lines: 27 tokens
    with pytest.raises(DataError, match="held-out text is shorter than one block"):
        pretrain(tiny(out, few, model=str(tiny_bert_dir), block_size=32), "mlm")
    fresh = tiny(tmp_path / "fresh", corpus_file, model=str(tiny_bert_dir), resume=True)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        pretrain(fresh, "mlm")
    with pytest.raises(InvalidInputError, match="needs a \\[MASK\\]"):
        pretrain(tiny(out, corpus_file, model=str(tiny_bert_dir), probes=["no mask"]), "mlm")
    with pytest.raises(InvalidInputError, match="no mask token"):
        pretrain(tiny(out, corpus_file, from_scratch=True, tokenizer=str(tiny_gpt2_dir)), "mlm")


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
