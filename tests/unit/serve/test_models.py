"""The served-model table: checked at start-up, looked up by id per request."""

from __future__ import annotations

import shutil

import pytest

from plmkit.errors import PlmError, UnsafeWeightsError
from plmkit.serve.errors import ApiError
from plmkit.serve.models import served_models


def test_pickle_only_weights_are_refused_at_start_up_with_the_conversion(tiny_bert_dir, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(UnsafeWeightsError) as refused:
        served_models(encoders=[str(pickled)])
    assert "safe_serialization=True" in refused.value.fix


def test_wrong_kinds_and_duplicates_are_refused_at_start_up(tiny_bert_dir, tiny_gpt2_dir):
    with pytest.raises(PlmError, match="needs a decoder"):
        served_models(generators=[str(tiny_bert_dir)])
    with pytest.raises(PlmError, match="not a fine-tuned classifier"):
        served_models(classifiers=[str(tiny_gpt2_dir)])
    with pytest.raises(PlmError, match="named twice"):
        served_models(encoders=[str(tiny_bert_dir)], preload=[str(tiny_bert_dir)])


def test_preload_infers_the_kind(tiny_bert_dir, tiny_gpt2_dir, tiny_classifier_dir):
    table = served_models(
        preload=[str(tiny_bert_dir), str(tiny_gpt2_dir), str(tiny_classifier_dir)]
    )
    assert [info.kind for info in table.infos.values()] == ["encoder", "generator", "classifier"]


def test_lookup_defaults_to_the_first_of_a_kind_and_refuses_the_rest(tiny_bert_dir):
    table = served_models(encoders=[str(tiny_bert_dir)])
    with pytest.raises(ApiError) as loading:
        table.lookup(None, "encoder", "/v1/embeddings")
    assert loading.value.status == 503
    table.state = "ready"
    assert table.lookup(None, "encoder", "/v1/embeddings").name == str(tiny_bert_dir)
    with pytest.raises(ApiError) as missing:
        table.lookup(None, "generator", "/v1/completions")
    assert missing.value.status == 404 and "--generator" in missing.value.fix
