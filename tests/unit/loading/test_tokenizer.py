"""Tokenizers by their named class: the same tokenizer AutoTokenizer gives, without torch."""

import json
import shutil

import pytest

from plmkit import loading


def test_gpt2_style_tokenizer_gets_pad_eos(tiny_gpt2_dir):
    tokenizer = loading.load_tokenizer(str(tiny_gpt2_dir))
    assert tokenizer.pad_token == tokenizer.eos_token


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_gpt2_dir", "tiny_llama_dir"])
def test_tokenizer_by_named_class_equals_auto_tokenizer(request, fixture):
    from transformers import AutoTokenizer

    directory = request.getfixturevalue(fixture)
    ours, auto = loading.load_tokenizer(str(directory)), AutoTokenizer.from_pretrained(directory)
    assert loading.tokenizer_class(directory) is not AutoTokenizer
    texts = ["The cat sat on the mat.", "Héllo wörld, twice:  twice!"]
    assert ours(texts)["input_ids"] == auto(texts)["input_ids"]
    assert ours.all_special_tokens == auto.all_special_tokens
    assert ours.chat_template == auto.chat_template
    assert ours.model_max_length == auto.model_max_length


def test_tokenizer_class_falls_back_to_auto(tmp_path, tiny_bert_dir):
    import transformers

    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    config_file = tmp_path / "m" / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    for name in ("NoSuchTokenizer", "os.system", None):
        config["tokenizer_class"] = name
        config_file.write_text(json.dumps(config))
        assert loading.tokenizer_class(tmp_path / "m") is transformers.AutoTokenizer
