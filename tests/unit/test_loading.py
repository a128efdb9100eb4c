import os
import shutil

import pytest
import torch

from plmkit import loading
from plmkit.errors import (
    ModelNotCachedError,
    ModelPathError,
    UnknownModelError,
    UnsafeWeightsError,
    WrongModelKindError,
)


def test_hub_id_not_in_cache_names_embedded_alias(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotCachedError) as caught:
        loading.model_dir("gpt2")
    assert "not in the local Hugging Face cache" in caught.value.message
    assert "smollm2" in caught.value.fix
    assert "\n" not in caught.value.one_line()


def test_unknown_hub_like_name_lists_aliases(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UnknownModelError, match="unknown model"):
        loading.model_dir("nobody/nothing-here")


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelPathError, match="no config.json"):
        loading.model_dir(str(tmp_path))


def test_pickle_only_weights_are_refused(tmp_path, tiny_bert_dir):
    (tmp_path / "config.json").write_text((tiny_bert_dir / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(UnsafeWeightsError, match="safetensors only"):
        loading.model_dir(str(tmp_path))


def test_kind_detection(tiny_bert_dir, tiny_gpt2_dir, tiny_llama_dir):
    assert loading.model_kind(loading.load_config(str(tiny_bert_dir))) == "encoder"
    assert loading.model_kind(loading.load_config(str(tiny_gpt2_dir))) == "decoder"
    assert loading.model_kind(loading.load_config(str(tiny_llama_dir))) == "decoder"


def test_wrong_kind_for_command(tiny_bert_dir, tiny_gpt2_dir):
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        loading.load_causal_lm(str(tiny_bert_dir))
    with pytest.raises(WrongModelKindError, match="needs an encoder"):
        loading.load_encoder(str(tiny_gpt2_dir))


def test_missing_mlm_head_is_reported(tiny_bert_dir):
    with pytest.raises(WrongModelKindError, match="no trained MLM head") as caught:
        loading.load_masked_lm(str(tiny_bert_dir))
    assert "plm pretrain mlm" in caught.value.fix


def test_gpt2_style_tokenizer_gets_pad_eos(tiny_gpt2_dir):
    tokenizer = loading.load_tokenizer(str(tiny_gpt2_dir))
    assert tokenizer.pad_token == tokenizer.eos_token
    model = loading.load_causal_lm(str(tiny_gpt2_dir))
    assert model.generation_config.pad_token_id == tokenizer.eos_token_id


def test_fp16_checkpoint_loads_as_fp32(tmp_path, tiny_bert_dir):
    model = loading.load_encoder(str(tiny_bert_dir)).to(torch.float16)
    model.save_pretrained(tmp_path, safe_serialization=True)
    loading.load_tokenizer(str(tiny_bert_dir)).save_pretrained(tmp_path)
    assert loading.load_encoder(str(tmp_path)).dtype == torch.float32


def test_cache_reloads_rewritten_directories(tmp_path, tiny_bert_dir):
    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    first = loading.cached("encoder", str(tmp_path / "m"))
    assert loading.cached("encoder", str(tmp_path / "m")) is first
    weights = tmp_path / "m" / "model.safetensors"
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 10))
    assert loading.cached("encoder", str(tmp_path / "m")) is not first


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_gpt2_dir", "tiny_llama_dir"])
def test_tokenizer_by_named_class_equals_auto_tokenizer(request, fixture):
    from transformers import AutoTokenizer

    directory = request.getfixturevalue(fixture)
    ours, auto = loading.load_tokenizer(str(directory)), AutoTokenizer.from_pretrained(directory)
    texts = ["The cat sat on the mat.", "Héllo wörld, twice:  twice!"]
    assert ours(texts)["input_ids"] == auto(texts)["input_ids"]
    assert ours.all_special_tokens == auto.all_special_tokens
    assert ours.chat_template == auto.chat_template
    assert ours.model_max_length == auto.model_max_length


def test_tokenizer_class_falls_back_to_auto(tmp_path, tiny_bert_dir):
    import json

    import transformers

    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    config_file = tmp_path / "m" / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    for name in ("NoSuchTokenizer", "os.system", None):
        config["tokenizer_class"] = name
        config_file.write_text(json.dumps(config))
        assert loading._tokenizer_class(tmp_path / "m") is transformers.AutoTokenizer
