"""loading/saved_tokenizer.py: the saved tokenizer answers like the transformers one, and a
process that finds it saved never imports transformers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from plmkit import loading
from plmkit.loading.saved_tokenizer import SavedTokenizer, describe, saved_path

TEXTS = [
    "The cat sat on the mat.",
    "Héllo wörld, twice:  twice!",
    "the best movie ever , funny and moving ! isn't it ?",
    "",
]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    loading.clear()
    yield
    loading.clear()


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_gpt2_dir", "tiny_llama_dir"])
def test_saved_tokenizer_answers_like_transformers(request, fixture):
    directory = request.getfixturevalue(fixture)
    hf = loading.load_tokenizer(str(directory))
    loading.load_inference_tokenizer(str(directory))  # saves it
    saved = loading.load_inference_tokenizer(str(directory))  # reads it back
    assert isinstance(saved, SavedTokenizer) and saved_path(directory).exists()

    assert saved(TEXTS)["input_ids"] == hf(TEXTS)["input_ids"]
    assert saved(TEXTS[1])["input_ids"] == hf(TEXTS[1])["input_ids"]
    for special in (True, False):
        assert saved(TEXTS[2], add_special_tokens=special) == {
            k: hf(TEXTS[2], add_special_tokens=special)[k] for k in ("input_ids", "attention_mask")
        }
    cut = saved(TEXTS, truncation=True, max_length=5)["input_ids"]
    assert cut == hf(TEXTS, truncation=True, max_length=5)["input_ids"]
    assert max(len(x) for x in cut) == 5
    # after a truncated call, an untruncated one is whole again (the backend is reset)
    assert saved(TEXTS[2])["input_ids"] == hf(TEXTS[2])["input_ids"]

    ids = hf(TEXTS)["input_ids"]
    ours, theirs = saved.pad({"input_ids": ids}), hf.pad({"input_ids": ids}, return_tensors="np")
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(ours[key], theirs[key])
        assert ours[key].dtype == np.int64
    for row in ids:
        assert saved.convert_ids_to_tokens(row) == hf.convert_ids_to_tokens(row)
        for skip in (True, False):
            assert saved.decode(row, skip_special_tokens=skip) == hf.decode(
                row, skip_special_tokens=skip
            )
    every = list(range(len(hf) + 2))  # added tokens, and two ids past the vocabulary
    assert saved.convert_ids_to_tokens(np.array(every)) == hf.convert_ids_to_tokens(every)
    for name in ("model_max_length", "pad_token_id", "padding_side", "chat_template"):
        assert getattr(saved, name) == getattr(hf, name)
    assert saved.eos_token == hf.eos_token  # anything else: the transformers tokenizer's


def test_chat_template_is_the_transformers_one(tiny_llama_dir):
    loading.load_inference_tokenizer(str(tiny_llama_dir))
    saved = loading.load_inference_tokenizer(str(tiny_llama_dir))
    hf = loading.load_tokenizer(str(tiny_llama_dir))
    messages = [{"role": "user", "content": "hi"}]
    kwargs = {"tokenize": False, "add_generation_prompt": True}
    assert saved.apply_chat_template(messages, **kwargs) == hf.apply_chat_template(
        messages, **kwargs
    )


def test_a_tokenizer_class_that_changes_a_call_is_not_saved(tiny_gpt2_dir):
    hf = loading.load_tokenizer(str(tiny_gpt2_dir))
    assert describe(hf) is not None

    class Shouting(type(hf)):
        def decode(self, *args, **kwargs):
            return super().decode(*args, **kwargs).upper()

    hf.__class__ = Shouting
    assert describe(hf) is None


def test_an_edited_tokenizer_is_saved_afresh(tmp_path, tiny_bert_dir):
    import shutil

    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    before = saved_path(tmp_path / "m")
    config = tmp_path / "m" / "tokenizer_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_max_length": 7}))
    assert saved_path(tmp_path / "m") != before


def test_a_saved_tokenizer_loads_without_transformers(tiny_gpt2_dir):
    code = (
        "import sys; from plmkit import loading; "
        f"t = loading.load_inference_tokenizer({str(tiny_gpt2_dir)!r}); "
        "ids = t('the cat sat')['input_ids']; "
        "print(type(t).__name__, t.decode(ids) == 'the cat sat', "
        "sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        for _ in range(2)  # the first saves it (with transformers)
    ]
    assert runs[1].stdout.split() == ["SavedTokenizer", "True", "[]"], runs[1].stderr


def test_spaces_cleaned_up_where_the_tokenizer_config_asks(tmp_path, tiny_bert_dir):
    import shutil

    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    config = tmp_path / "m" / "tokenizer_config.json"
    config.write_text(
        json.dumps({**json.loads(config.read_text()), "clean_up_tokenization_spaces": True})
    )
    hf = loading.load_tokenizer(str(tmp_path / "m"))
    loading.load_inference_tokenizer(str(tmp_path / "m"))
    saved = loading.load_inference_tokenizer(str(tmp_path / "m"))
    ids = hf("the cat , isn't it ? it's a mess .")["input_ids"]
    assert saved.clean_up_spaces and saved.decode(ids) == hf.decode(ids)
    assert hf.decode(ids, clean_up_tokenization_spaces=False) != hf.decode(ids)
