"""pipelines/tokenize.py: tokens, ids, special tokens and where they sit."""

from plmkit.pipelines.tokenize import tokenize


def test_tokenize_shows_specials(tiny_bert_dir):
    result = tokenize("The cat sat on the mat.", str(tiny_bert_dir))
    assert result.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    assert result.special_positions == [0, 8]
    assert result.attention_mask == [1] * 9
    assert result.special_tokens["mask_token"] == "[MASK]"


def test_tokenize_ids_are_the_tokenizers(tiny_bert_dir):
    from plmkit import loading

    tokenizer = loading.load_tokenizer(str(tiny_bert_dir))
    result = tokenize("the dog", str(tiny_bert_dir))
    assert result.input_ids == tokenizer("the dog")["input_ids"]
    assert result.tokens == tokenizer.convert_ids_to_tokens(result.input_ids)
    assert result.to_dict()["text"] == "the dog"
