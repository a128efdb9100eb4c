"""What the server asks of a model before serving it: its kind, limits and labels."""

from __future__ import annotations

from plmkit.pipelines.models import describe_model, infer_kind, token_counts


def test_describe_each_kind(tiny_bert_mlm_dir, tiny_gpt2_dir, tiny_classifier_dir):
    encoder = describe_model(str(tiny_bert_mlm_dir))
    assert (encoder.kind, encoder.input_limit, encoder.hidden_size) == ("encoder", 128, 32)
    assert encoder.fill_mask
    generator = describe_model(str(tiny_gpt2_dir), "generator")
    assert (generator.kind, generator.input_limit) == ("generator", 128)
    classifier = describe_model(str(tiny_classifier_dir))
    assert classifier.kind == "classifier" and classifier.labels == ("negative", "positive")
    assert infer_kind(str(tiny_gpt2_dir)) == "generator"


def test_token_counts_include_special_tokens_and_cut_nothing(tiny_bert_dir):
    assert token_counts(["the cat", "the " * 200], str(tiny_bert_dir)) == [4, 202]
