"""recipes/model_factory.py: from-scratch models sized by config.SCRATCH_SIZES, shaped by the
tokenizer they will train with, repeatable from the seed."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from plmkit.config import SCRATCH_SIZES
from plmkit.errors import InvalidInputError
from plmkit.recipes.model_factory import parameter_count, scratch_model


@pytest.fixture(scope="module")
def bert_tokenizer(tiny_bert_dir):
    return AutoTokenizer.from_pretrained(tiny_bert_dir)


@pytest.fixture(scope="module")
def gpt2_tokenizer(tiny_gpt2_dir):
    return AutoTokenizer.from_pretrained(tiny_gpt2_dir)


def test_bert_takes_its_size_and_vocabulary_from_size_and_tokenizer(bert_tokenizer):
    model = scratch_model("bert", "tiny", bert_tokenizer, max_positions=256)
    config, size = model.config, SCRATCH_SIZES["tiny"]
    assert type(model).__name__ == "BertForMaskedLM" and model.training
    assert (config.num_hidden_layers, config.hidden_size) == (size.layers, size.hidden)
    assert (config.num_attention_heads, config.intermediate_size) == (size.heads, size.ffn)
    assert config.vocab_size == len(bert_tokenizer) and config.max_position_embeddings == 256
    assert config.pad_token_id == bert_tokenizer.pad_token_id
    assert config.hidden_dropout_prob == 0.1  # BERT's: encoders keep their dropout


def test_distilbert_small(bert_tokenizer):
    model = scratch_model("distilbert", "small", bert_tokenizer)
    assert type(model).__name__ == "DistilBertForMaskedLM"
    assert (model.config.n_layers, model.config.dim) == (6, 256)


def test_decoders_have_no_dropout_and_pad_with_eos(gpt2_tokenizer):
    gpt2 = scratch_model("gpt2", "tiny", gpt2_tokenizer)
    assert gpt2.config.resid_pdrop == gpt2.config.embd_pdrop == gpt2.config.attn_pdrop == 0.0
    assert gpt2.generation_config.pad_token_id == gpt2_tokenizer.eos_token_id
    assert gpt2.config.bos_token_id == gpt2_tokenizer.eos_token_id  # no bos: eos stands in
    llama = scratch_model("llama", "tiny", gpt2_tokenizer)
    assert llama.config.num_key_value_heads == 2 and llama.config.tie_word_embeddings
    assert llama.get_output_embeddings().weight is llama.get_input_embeddings().weight


def test_the_seed_makes_the_init_repeatable(bert_tokenizer):
    first, again, other = (scratch_model("bert", "tiny", bert_tokenizer, seed=s) for s in (1, 1, 2))
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(first.state_dict()[name], again.state_dict()[name])
    assert not torch.equal(first.state_dict()[name], other.state_dict()[name])


def test_parameter_count_counts_tied_weights_once(gpt2_tokenizer):
    llama = scratch_model("llama", "tiny", gpt2_tokenizer)
    every = sum(p.numel() for _, p in llama.named_parameters(remove_duplicate=False))
    embedding = llama.get_input_embeddings().weight.numel()
    assert parameter_count(llama) == every - embedding


@pytest.mark.parametrize(
    ("arch", "size", "tokenizer", "message"),
    [
        ("bert", "tiny", "gpt2_tokenizer", "has no mask token"),
        ("gpt2", "tiny", "bert_tokenizer", "no end-of-text token"),
        ("t5", "tiny", "bert_tokenizer", "--arch 't5' cannot be pre-trained with mlm"),
        ("bert", "huge", "bert_tokenizer", "unknown --size 'huge'"),
    ],
)
def test_what_cannot_be_built_is_a_clear_error(request, arch, size, tokenizer, message):
    with pytest.raises(InvalidInputError, match=message):
        scratch_model(arch, size, request.getfixturevalue(tokenizer))
