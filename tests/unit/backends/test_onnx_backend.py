"""ONNX Runtime encoders against torch fp32 on tiny random models.

Tolerances: fp32 cosine > 0.9999 and max abs diff < 1e-4; int8 cosine > 0.98 (mean-pooled
states); classifier logits within 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest

from plmkit.backends import registry

PARTIAL_LOGIT_TOLERANCE = 0.02
"""Max |logit - torch fp32| of onnx-int8-partial on the tiny random classifier."""
COSINE = {"onnx-fp32": 0.9999, "onnx-int8": 0.98, "onnx-int8-partial": 0.98}


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


def test_partial_int8_keeps_the_head_and_ffn_outputs_fp32(random_classifier_dir):
    """int8-partial quantises every matmul but the classifier head and each layer's
    feed-forward output projection, which stay plain fp32 MatMul / Gemm nodes."""
    import onnx

    from plmkit import loading
    from plmkit.loading.exports import fp32_matmuls

    if registry.missing("onnx-int8-partial"):
        pytest.skip(registry.missing("onnx-int8-partial"))
    model = str(random_classifier_dir)
    keep = fp32_matmuls(loading.onnx_encoder_file(model, "classify", "fp32"))
    assert any("classifier" in n for n in keep)
    assert sum("/output/dense/" in n and "/attention/" not in n for n in keep) == 2  # 2 layers
    assert not any("/attention/" in n for n in keep)
    partial = onnx.load(str(loading.onnx_encoder_file(model, "classify", "int8-partial")))
    quantised = [n.name for n in partial.graph.node if n.op_type == "MatMulInteger"]
    assert len(quantised) == 5 * 2  # q, k, v, attention output, FFN input; 2 layers
    assert not any(q.startswith(k) for q in quantised for k in keep)


def test_partial_int8_agrees_with_fp32_within_tolerance(random_classifier_dir, against_fp32):
    """The stated tolerance: classifier logits within PARTIAL_LOGIT_TOLERANCE of fp32's, and
    no further than full int8's (it quantises a subset of the same matmuls)."""
    if registry.missing("onnx-int8-partial"):
        pytest.skip(registry.missing("onnx-int8-partial"))
    expected = np.stack(against_fp32(random_classifier_dir, "classify", "torch-fp32")[1])
    errors = {}
    for name in ("onnx-int8", "onnx-int8-partial"):
        got = np.stack(against_fp32(random_classifier_dir, "classify", name)[0])
        errors[name] = float(np.abs(got - expected).max())
    assert errors["onnx-int8-partial"] < PARTIAL_LOGIT_TOLERANCE
    assert errors["onnx-int8-partial"] <= errors["onnx-int8"] * 1.1 + 1e-6
