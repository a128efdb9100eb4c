"""config.py: each config's validate() rejects bad values with the CLI's one-line errors."""

from __future__ import annotations

import pytest

from plmkit.config import (
    SCRATCH_OBJECTIVE,
    FinetuneConfig,
    GenerateConfig,
    PretrainConfig,
    check_scratch_model,
    scratch_archs,
)
from plmkit.errors import InvalidInputError


def test_defaults_are_valid():
    assert GenerateConfig().validate() == GenerateConfig()
    assert FinetuneConfig().validate() == FinetuneConfig()
    for objective in ("mlm", "clm"):
        assert PretrainConfig().validate(objective) == PretrainConfig(out=f"runs/{objective}")
        assert PretrainConfig(out="x").validate(objective).out == "x"
        assert PretrainConfig(from_scratch=True, train_tokenizer=True).validate(objective)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy": "nucleus"}, "unknown strategy 'nucleus'"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 5, "max_length": 9}, "both max_new_tokens and max_length"),
        ({"temperature": 0}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"num_beams": 0}, "num_beams"),
        ({"stop": ["ok", ""]}, "empty stop string"),
    ],
)
def test_generate_config_rejects(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        GenerateConfig(**fields).validate()


@pytest.mark.parametrize(
    ("objective", "fields", "message"),
    [
        ("mlm", {"from_scratch": True, "arch": "gpt2"}, "use `plm pretrain clm`"),
        ("clm", {"from_scratch": True, "arch": "distilbert"}, "use `plm pretrain mlm`"),
        ("mlm", {"from_scratch": True, "size": "huge"}, "unknown --size 'huge'"),
        ("mlm", {"train_tokenizer": True}, "only goes with --from-scratch"),
        ("mlm", {"block_size": 4}, "too short to learn from"),
        ("mlm", {"vocab_size": True}, "vocab_size must be a whole number"),
        ("clm", {"save_steps": 0}, "save_steps"),
        ("mlm", {"learning_rate": 0.0}, "learning_rate"),
        ("mlm", {"pseudo_perplexity_texts": -1}, "pseudo_perplexity_texts must be >= 0"),
        ("clm", {"warmup_ratio": 0.6}, "warmup_ratio"),
        ("mlm", {"mlm_probability": 0.0}, "mlm_probability"),
    ],
)
def test_pretrain_config_rejects(objective, fields, message):
    with pytest.raises(InvalidInputError, match=message):
        PretrainConfig(**fields).validate(objective)


def test_scratch_arch_defaults_per_objective():
    assert PretrainConfig().scratch_arch("mlm") == "bert"
    assert PretrainConfig().scratch_arch("clm") == "gpt2"
    assert PretrainConfig(arch="llama").scratch_arch("mlm") == "llama"
    assert scratch_archs("mlm") == ["bert", "distilbert"]
    assert scratch_archs("clm") == ["gpt2", "llama"]
    assert set(SCRATCH_OBJECTIVE) == {*scratch_archs("mlm"), *scratch_archs("clm")}


def test_check_scratch_model_names_the_valid_choices():
    with pytest.raises(InvalidInputError) as error:
        check_scratch_model("t5", "tiny", "clm")
    assert error.value.message == "--arch 't5' cannot be pre-trained with clm"
    assert error.value.fix == "use --arch gpt2 or llama"
    with pytest.raises(InvalidInputError) as error:
        check_scratch_model("bert", "medium", "mlm")
    assert error.value.fix == "use one of: tiny, small"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recipe": "fastest"}, "unknown recipe 'fastest'"),
        ({"class_weights": "balanced"}, "unknown class_weights 'balanced'"),
        ({"epochs": 0}, "epochs"),
        ({"eval_batch_size": 0}, "eval_batch_size"),
        ({"warmup_ratio": 0.9}, "warmup_ratio"),
        ({"weight_decay": 2.0}, "weight_decay"),
        ({"test_size": 0.95}, "test_size"),
        ({"early_stopping_patience": -1}, "early_stopping_patience must be >= 0"),
        ({"out": ""}, "no output directory"),
    ],
)
def test_finetune_config_rejects(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        FinetuneConfig(**fields).validate()
