"""ONNX Runtime encoders against torch fp32 on tiny random models.

Tolerances: fp32 cosine > 0.9999 and max abs diff < 1e-4; int8 cosine > 0.98 (mean-pooled
states); classifier logits within 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest
from forked import in_forked_child

from plmkit import backends
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


def test_int8_rewrites_keep_the_head_and_outlier_channels_fp32(random_classifier_dir):
    """Both int8 rewrites quantise every matmul in the encoder layers but keep the classifier
    head fp32 and send OUTLIER_CHANNELS of each quantised input through fp32, but the
    attention output's (OUTLIERS_SKIP); int8 fuses the matmuls that share an input (query,
    key, value) into one kernel with their biases, computes the FFN output's outlier
    channels from the FFN input (a thin fp32 matmul and a FastGelu, no mask) and splits the
    other inputs' outlier channels into parts in int8 (split_outliers); GELU runs as
    FastGelu; no Reshape computes its shape at run time (onnx_edits.static_reshapes)."""
    import onnx
    from onnx import numpy_helper

    from plmkit import loading
    from plmkit.loading.onnx_graph_edit import OUTLIER_CHANNELS
    from plmkit.loading.onnx_int8 import matmuls_to_keep

    assert not registry.missing("onnx-int8-partial"), registry.missing("onnx-int8-partial")
    model = str(random_classifier_dir)
    keep = matmuls_to_keep(loading.onnx_encoder_file(model, "classify", "fp32"))
    assert keep and any("classifier" in n for n in keep)
    assert not any("/layer." in n for n in keep)

    def graph(quantization: str):
        return onnx.load(str(loading.onnx_encoder_file(model, "classify", quantization))).graph

    def nodes(quantization: str, op_type: str) -> list:
        return [n for n in graph(quantization).node if n.op_type == op_type]

    def outlier_gathers(quantization: str) -> list:
        return [n for n in nodes(quantization, "Gather") if n.output[0].endswith("_out")]

    # q/k/v share an input; then the attention output, FFN input and FFN output. The last
    # layer runs its query for the first token alone (first_token.py): one input more.
    inputs = 4 + 5
    assert len(nodes("int8-partial", "MatMulIntegerToFloat")) == 6 * 2  # 2 layers
    fused = nodes("int8", "DynamicQuantizeMatMul")
    assert len(fused) == inputs and not nodes("int8", "MatMulIntegerToFloat")
    assert len(nodes("int8", "Split")) == 2  # q, k, v of layer 0; k, v of the last
    assert all(len(n.input) == 5 and n.input[4] for n in fused)  # each with its bias

    # not the attention output's, in either layer; int8: nor the FFN output's (2 layers),
    # and its outlier channels go in parts through int8 where 8 parts fit them
    def split(quantization: str) -> list:
        return [n for n in nodes(quantization, "Concat") if n.output[0].endswith("_split")]

    assert len(outlier_gathers("int8")) + len(split("int8")) == inputs - 4
    assert split("int8") and not split("int8-partial")
    for quantization, gathered, gelus in (("int8", None, 4), ("int8-partial", inputs - 2, 2)):
        gathers = outlier_gathers(quantization)
        assert gathered is None or len(gathers) == gathered
        assert len(nodes(quantization, "FastGelu")) == gelus and not nodes(quantization, "Erf")
        weights = {i.name: i for i in graph(quantization).initializer}
        assert all(list(weights[n.input[1]].dims) == [OUTLIER_CHANNELS] for n in gathers)
        layers = [n for n in nodes(quantization, "Reshape") if "/layer." in n.name]
        assert layers and all(n.input[1] in weights for n in layers)  # the heads' split, merge
    weights = {i.name: numpy_helper.to_array(i) for i in graph("int8").initializer}
    columns = [w for name, w in weights.items() if name.endswith("_gelu_columns")]
    assert len(columns) == 2 and all(w.shape[1] == OUTLIER_CHANNELS for w in columns)


def test_classifier_exports_say_they_run_the_first_token_alone(random_classifier_dir):
    """The export's metadata, kept by the int8 copies and ONNX Runtime's saved graph, tells
    the bench which FLOP count applies (it used to assume every ONNX classifier trimmed)."""
    from plmkit.backends import build_encoder

    model = str(random_classifier_dir)
    for quantization in ("fp32", "int8", "int8-partial"):
        backend = build_encoder(model, "classify", f"onnx-{quantization}")
        assert backend.first_token, quantization
        assert build_encoder(model, "classify", f"onnx-{quantization}").first_token  # saved graph
    assert not build_encoder(model, "classify", "torch-fp32").first_token


def test_partial_int8_result_does_not_depend_on_the_batch(tiny_bert_dir, texts):
    """One activation scale per token: a text's embedding is the same alone and batched with
    longer texts (onnx-int8's one scale per tensor moved MiniLM's to cosine 0.9914)."""
    name = "onnx-int8-partial"
    from plmkit import loading
    from plmkit.backends import build_encoder

    assert not registry.missing(name), registry.missing(name)  # `make setup` installs [fast]
    backend = build_encoder(str(tiny_bert_dir), "embed", name)
    tokenizer = loading.cached("tokenizer", str(tiny_bert_dir))
    short, long = texts[0], " ".join(texts) * 3
    padded = tokenizer([short, long, long], padding=True, return_tensors="np")
    batched = backend.forward(padded["input_ids"], padded["attention_mask"])[0]
    alone_ids = tokenizer([short], return_tensors="np")
    alone = backend.forward(alone_ids["input_ids"], alone_ids["attention_mask"])[0]
    n = alone.shape[0]
    np.testing.assert_allclose(batched[:n], alone, rtol=0, atol=1e-5)


def test_partial_int8_agrees_with_fp32_within_tolerance(
    tiny_bert_dir, random_classifier_dir, against_fp32
):
    """The stated tolerance: classifier logits within PARTIAL_LOGIT_TOLERANCE of fp32's; and
    token states closer to fp32's than full int8's (the same matmuls quantised, but the
    outlier channels in fp32 and the rest on finer steps)."""
    if registry.missing("onnx-int8-partial"):
        pytest.skip(registry.missing("onnx-int8-partial"))
    got, expected = against_fp32(random_classifier_dir, "classify", "onnx-int8-partial")
    assert np.abs(np.stack(got) - np.stack(expected)).max() < PARTIAL_LOGIT_TOLERANCE
    errors = {}
    for name in ("onnx-int8", "onnx-int8-partial"):
        got, expected = against_fp32(tiny_bert_dir, "embed", name)
        pairs = zip(got, expected, strict=True)
        errors[name] = float(np.mean([np.abs(g - e).mean() for g, e in pairs]))
    assert 0 < errors["onnx-int8-partial"] < errors["onnx-int8"]


def test_rows_split_across_cores_also_in_a_forked_child(tiny_bert_dir, texts, monkeypatch):
    """A batch's rows run in parts on a thread pool; a child forked after the pool started
    (its threads stay behind in the parent) makes its own instead of waiting forever."""

    from plmkit import loading
    from plmkit.backends import build_encoder

    assert not registry.missing("onnx-fp32"), registry.missing("onnx-fp32")  # [fast] extra
    backend = build_encoder(str(tiny_bert_dir), "embed", "onnx-fp32")
    monkeypatch.setattr(backend, "threads", 2)
    padded = loading.cached("tokenizer", str(tiny_bert_dir))(
        texts, padding=True, return_tensors="np"
    )
    ids, mask = padded["input_ids"], padded["attention_mask"]
    whole = backend.forward(ids, mask)  # starts the pool
    rows = [backend.forward(ids[i : i + 1], mask[i : i + 1])[0] for i in range(len(ids))]
    np.testing.assert_allclose(whole, np.stack(rows), rtol=0, atol=1e-5)

    def child() -> float:
        return np.abs(backend.forward(ids, mask) - whole).max()

    assert in_forked_child(child, "the forked child hung on the parent's thread pool") < 1e-5


def test_many_texts_run_whole_batches_one_per_core_with_the_same_results(tiny_bert_dir, texts):
    from plmkit.backends import batch_plan
    from plmkit.backends.onnx_backend import RUN_ROWS
    from plmkit.pipelines.encode import encode

    backend = backends.load_encoder_backend(str(tiny_bert_dir), "embed", "onnx-int8-partial")
    threads = backend.threads
    try:
        backend.threads = backend.concurrency = 2  # as on a 2-core machine, whatever this one has
        rows, workers, run = batch_plan(backend, 32)
        assert (rows, workers) == (RUN_ROWS, 2) and run == backend.forward_alone
        assert batch_plan(backend, 4)[0] == 4  # never more rows than asked for
        many = texts * 5
        at_once = encode(many, str(tiny_bert_dir), backend="onnx-int8-partial").embeddings
        backend.concurrency = 1  # one batch at a time, its rows split across the cores
        assert batch_plan(backend, 32) == (32, 1, backend.forward)
        in_turn = encode(many, str(tiny_bert_dir), backend="onnx-int8-partial").embeddings
    finally:
        backend.threads = backend.concurrency = threads
    np.testing.assert_allclose(at_once, in_turn, rtol=0, atol=1e-5)


def test_a_classifier_exported_whole_says_so(random_classifier_dir, tmp_path, monkeypatch):
    import shutil

    from plmkit.backends import build_encoder
    from plmkit.loading import first_token

    model = tmp_path / "whole"  # a path of its own: not the export the test above cached
    shutil.copytree(random_classifier_dir, model)
    monkeypatch.setattr(first_token, "first_token_only", lambda network, probe: network)
    assert not build_encoder(str(model), "classify", "onnx-fp32").first_token
