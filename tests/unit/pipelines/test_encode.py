"""pipelines/encode.py: embeddings in input order, token states, checkpoint pooling, files."""

import json

import numpy as np
import pytest

from plmkit.errors import InvalidInputError
from plmkit.pipelines.encode import encode, save_embeddings


def test_encode_shapes_and_input_order(tiny_bert_dir):
    texts = ["the cat", "the cat sat on the mat and the dog sat on the mat", "a", "the movie"]
    result = encode(texts, str(tiny_bert_dir), batch_size=2, backend="torch-fp32")
    assert result.embeddings.shape == (4, 32)
    assert [s[1] for s in result.shapes] == [len(t) for t in result.tokens]
    alone = [encode(t, str(tiny_bert_dir), backend="torch-fp32").embeddings[0] for t in texts]
    np.testing.assert_allclose(result.embeddings, np.stack(alone), atol=1e-5)


def test_tokens_are_made_only_when_asked_for(tiny_bert_dir):
    """Embeddings alone (the server, the bench) never convert ids to tokens."""
    result = encode(["the cat sat", "a"], str(tiny_bert_dir), backend="torch-fp32")
    assert "tokens" not in vars(result)
    assert result.tokens == [result.tokenizer.convert_ids_to_tokens(x) for x in result.ids]
    assert result.tokens[0][0] == "[CLS]" and "tokens" in vars(result)
    assert result.shapes == [(1, 5, 32), (1, 3, 32)]


def test_encode_token_states_and_normalize(tiny_bert_dir):
    result = encode(["the cat sat"], str(tiny_bert_dir), normalize=True, return_token_states=True)
    assert result.token_states[0].shape == (5, 32)
    assert np.linalg.norm(result.embeddings[0]) == pytest.approx(1.0, abs=1e-5)


def test_token_states_come_back_unpadded_in_input_order(tiny_bert_dir):
    """Batched with padding, each text's states equal its states when encoded alone."""
    texts = ["a", "the cat sat on the mat and the dog sat", "the movie"]
    batched = encode(
        texts, str(tiny_bert_dir), batch_size=3, return_token_states=True, backend="torch-fp32"
    )
    for text, states in zip(texts, batched.token_states, strict=True):
        (alone,) = encode(
            text, str(tiny_bert_dir), return_token_states=True, backend="torch-fp32"
        ).token_states
        assert states.shape == alone.shape
        np.testing.assert_allclose(states, alone, atol=1e-5)
    assert encode(texts, str(tiny_bert_dir)).token_states is None


def test_encode_bad_inputs(tiny_bert_dir):
    with pytest.raises(InvalidInputError, match="empty text"):
        encode(["ok", " "], str(tiny_bert_dir))
    with pytest.raises(InvalidInputError, match="unknown pooling"):
        encode("ok", str(tiny_bert_dir), pooling="sum")
    with pytest.raises(InvalidInputError, match="batch_size"):
        encode("ok", str(tiny_bert_dir), batch_size=0)


def test_save_embeddings(tmp_path, tiny_bert_dir):
    result = encode(["the cat", "the dog"], str(tiny_bert_dir))
    np.testing.assert_array_equal(
        np.load(save_embeddings(result, ["the cat", "the dog"], tmp_path / "e.npy")),
        result.embeddings.astype(np.float32),
    )
    rows = save_embeddings(result, ["the cat", "the dog"], tmp_path / "e.jsonl").read_text()
    assert [json.loads(r)["text"] for r in rows.splitlines()] == ["the cat", "the dog"]
    with pytest.raises(InvalidInputError, match="cannot write embeddings") as caught:
        save_embeddings(result, ["the cat", "the dog"], tmp_path / "e.csv")
    assert ".npy or .jsonl" in caught.value.fix


def test_encode_on_onnx_needs_no_torch_once_exported(tiny_bert_dir):
    """Cold start: after the one-time export, an ONNX encode never imports torch."""
    import subprocess
    import sys

    from plmkit.backends import registry

    if registry.missing("onnx-fp32"):
        pytest.skip(registry.missing("onnx-fp32"))
    code = (
        "import sys; from plmkit.pipelines.encode import encode; "
        f"r = encode(['the cat sat'], {str(tiny_bert_dir)!r}, backend='onnx-fp32'); "
        "print(r.embeddings.shape, 'torch' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(2)  # the first exports the model (with torch) and fills the caches
    ]
    assert runs[1].stdout.split() == ["(1,", "32)", "False"], runs[1].stdout + runs[1].stderr
