"""ONNX Runtime encoders against torch fp32 on tiny random models.

Tolerances: fp32 cosine > 0.9999 and max abs diff < 1e-4; int8 cosine > 0.98 (mean-pooled
states); classifier logits within 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest

from plmkit.backends import registry

COSINE = {"onnx-fp32": 0.9999, "onnx-int8": 0.98}


@pytest.mark.parametrize("name", list(COSINE))
def test_encoder_backends_agree_with_fp32(tiny_bert_dir, name, against_fp32, cosine):
    got, expected = against_fp32(tiny_bert_dir, "embed", name)
    assert [g.shape for g in got] == [e.shape for e in expected]
    assert cosine(got, expected) > COSINE[name]
    if name == "onnx-fp32":
        assert max(np.abs(g - e).max() for g, e in zip(got, expected, strict=True)) < 1e-4


@pytest.mark.parametrize("name", list(COSINE))
def test_classifier_backends_agree_with_fp32(random_classifier_dir, name, against_fp32, texts):
    got, expected = (np.stack(x) for x in against_fp32(random_classifier_dir, "classify", name))
    assert got.shape == expected.shape == (len(texts), 2)
    assert np.abs(got - expected).max() < 0.05


def test_encode_pipeline_keeps_order_on_int8(tiny_bert_dir, texts):
    from plmkit.pipelines.encode import encode

    if registry.missing("onnx-int8"):
        pytest.skip(registry.missing("onnx-int8"))
    result = encode(texts, str(tiny_bert_dir), batch_size=2, backend="onnx-int8")
    for text, vector in zip(texts, result.embeddings, strict=True):
        alone = encode(text, str(tiny_bert_dir), backend="onnx-int8").embeddings[0]
        assert float(vector @ alone / np.linalg.norm(vector) / np.linalg.norm(alone)) > 0.999
