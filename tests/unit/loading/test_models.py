"""The loaders: dtypes, heads that must be there, heads that are made for training."""

import pytest
import torch

from plmkit import loading
from plmkit.errors import WrongModelKindError


def test_missing_mlm_head_is_reported(tiny_bert_dir):
    with pytest.raises(WrongModelKindError, match="no trained MLM head") as caught:
        loading.load_masked_lm(str(tiny_bert_dir))
    assert "plm pretrain mlm" in caught.value.fix
    assert "plm fill-mask runs/mlm TEXT" in caught.value.fix


def test_missing_mlm_head_suggests_only_cached_hub_models(tiny_bert_dir, monkeypatch, tmp_path):
    """An empty HF cache (what `plm models` shows as not cached) suggests no hub model."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WrongModelKindError) as caught:
        loading.load_masked_lm(str(tiny_bert_dir))
    assert "bert-base-uncased" not in caught.value.fix
    cached = tmp_path / "models--bert-base-uncased" / "snapshots" / "abc"
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    (tmp_path / "models--bert-base-uncased" / "refs").mkdir()
    (tmp_path / "models--bert-base-uncased" / "refs" / "main").write_text("abc")
    with pytest.raises(WrongModelKindError) as caught:
        loading.load_masked_lm(str(tiny_bert_dir))
    assert "or use bert-base-uncased (in your HF cache)" in caught.value.fix


def test_causal_lm_without_pad_gets_eos(tiny_gpt2_dir):
    tokenizer = loading.load_tokenizer(str(tiny_gpt2_dir))
    model = loading.load_causal_lm(str(tiny_gpt2_dir))
    assert model.generation_config.pad_token_id == tokenizer.eos_token_id
    assert not model.training


def test_fp16_checkpoint_loads_as_fp32(tmp_path, tiny_bert_dir):
    model = loading.load_encoder(str(tiny_bert_dir)).to(torch.float16)
    model.save_pretrained(tmp_path, safe_serialization=True)
    loading.load_tokenizer(str(tiny_bert_dir)).save_pretrained(tmp_path)
    assert loading.load_encoder(str(tmp_path)).dtype == torch.float32
    assert loading.load_encoder(str(tmp_path), torch.bfloat16).dtype == torch.bfloat16


def test_classifier_without_a_trained_head_is_refused(tiny_bert_dir):
    with pytest.raises(WrongModelKindError, match="no trained classification head"):
        loading.load_classifier(str(tiny_bert_dir))


def test_finetune_head_replaces_one_of_another_size(tmp_path, tiny_bert_dir):
    three = loading.load_for_finetune(str(tiny_bert_dir), 3, {0: "a", 1: "b", 2: "c"})
    assert three.training and three.config.label2id == {"a": 0, "b": 1, "c": 2}
    three.save_pretrained(tmp_path, safe_serialization=True)
    loading.load_tokenizer(str(tiny_bert_dir)).save_pretrained(tmp_path)
    two = loading.load_for_finetune(str(tmp_path), 2, {0: "no", 1: "yes"})
    assert two.num_labels == 2 and two.classifier.out_features == 2
    assert loading.load_classifier(str(tmp_path)).num_labels == 3


def test_decoder_finetune_gets_a_pad_token(tiny_gpt2_dir):
    model = loading.load_for_finetune(str(tiny_gpt2_dir), 2, {0: "no", 1: "yes"})
    assert model.config.pad_token_id == loading.load_tokenizer(str(tiny_gpt2_dir)).pad_token_id


def test_mlm_training_head_is_new_and_tied(tiny_bert_dir):
    model, new_head = loading.load_for_mlm_training(str(tiny_bert_dir))
    assert new_head and model.training
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_clm_training_is_a_causal_lm_in_train_mode(tiny_llama_dir, tiny_bert_dir):
    assert loading.load_for_clm_training(str(tiny_llama_dir)).training
    with pytest.raises(WrongModelKindError, match="pretrain clm"):
        loading.load_for_clm_training(str(tiny_bert_dir))
