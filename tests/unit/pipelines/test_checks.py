"""pipelines/checks.py: the model kind from config.json, before any weights load."""

from types import SimpleNamespace

import pytest

from plmkit.errors import WrongModelKindError
from plmkit.pipelines.checks import declared_kind, require_classifier, require_kind


def test_the_head_in_config_json_decides_the_kind():
    assert declared_kind(SimpleNamespace(architectures=["GPT2LMHeadModel"])) == "decoder"
    assert declared_kind(SimpleNamespace(architectures=["LlamaForCausalLM"])) == "decoder"
    assert declared_kind(SimpleNamespace(architectures=["BertForMaskedLM"])) == "encoder"
    for unsure in (["BertModel"], ["GPT2ForSequenceClassification"], None):
        assert declared_kind(SimpleNamespace(architectures=unsure)) is None


def test_a_wrong_kind_is_refused(tiny_bert_dir, tiny_bert_mlm_dir, tiny_gpt2_dir):
    require_kind(str(tiny_bert_dir), "encoder", "encode")  # a bare BertModel: the loader decides
    require_kind(str(tiny_gpt2_dir), "decoder", "generate")
    with pytest.raises(WrongModelKindError, match="needs an encoder"):
        require_kind(str(tiny_gpt2_dir), "encoder", "encode")
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        require_kind(str(tiny_bert_mlm_dir), "decoder", "generate")
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        require_kind(str(tiny_bert_dir), "decoder", "generate")  # asked of transformers
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        require_kind("minilm", "decoder", "generate")


def test_a_classifier_has_its_head_and_labels(tiny_classifier_dir, tiny_bert_dir):
    assert require_classifier(str(tiny_classifier_dir), "predict") == ["negative", "positive"]
    with pytest.raises(WrongModelKindError, match=r"not a fine-tuned classifier \(BertModel\)"):
        require_classifier(str(tiny_bert_dir), "predict")
