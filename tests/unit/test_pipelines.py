"""tokenize / encode / fill-mask on tiny models (generate has its own file)."""

import json

import numpy as np
import pytest
import torch

from plmkit.errors import InvalidInputError
from plmkit.pipelines.encode import encode, save_embeddings
from plmkit.pipelines.fill_mask import fill_mask
from plmkit.pipelines.tokenize import tokenize
from plmkit.pooling import pool


def test_tokenize_shows_specials(tiny_bert_dir):
    result = tokenize("The cat sat on the mat.", str(tiny_bert_dir))
    assert result.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    assert result.special_positions == [0, 8]
    assert result.attention_mask == [1] * 9
    assert result.special_tokens["mask_token"] == "[MASK]"


def test_encode_shapes_and_input_order(tiny_bert_dir):
    texts = ["the cat", "the cat sat on the mat and the dog sat on the mat", "a", "the movie"]
    result = encode(texts, str(tiny_bert_dir), batch_size=2, backend="torch-fp32")
    assert result.embeddings.shape == (4, 32)
    assert [s[1] for s in result.shapes] == [len(t) for t in result.tokens]
    alone = [encode(t, str(tiny_bert_dir), backend="torch-fp32").embeddings[0] for t in texts]
    np.testing.assert_allclose(result.embeddings, np.stack(alone), atol=1e-5)


def test_encode_token_states_and_normalize(tiny_bert_dir):
    result = encode(["the cat sat"], str(tiny_bert_dir), normalize=True, return_token_states=True)
    assert result.token_states[0].shape == (5, 32)
    assert np.linalg.norm(result.embeddings[0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("how", ["cls", "mean", "max"])
def test_pooling_ignores_padding(how):
    states = np.random.default_rng(0).standard_normal((1, 3, 4)).astype(np.float32)
    padded = np.concatenate([states, np.full((1, 2, 4), 99.0, np.float32)], axis=1)
    mask = np.array([[1, 1, 1, 0, 0]])
    np.testing.assert_allclose(pool(states, np.ones((1, 3)), how), pool(padded, mask, how))


@pytest.mark.parametrize("how", ["cls", "mean", "max"])
def test_pooling_matches_sentence_transformers_arithmetic(how):
    """The numpy pooling equals the torch formulas sentence-transformers uses."""
    states = torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    m = mask.unsqueeze(-1).float()
    expected = {
        "cls": states[:, 0],
        "mean": (states * m).sum(1) / m.sum(1).clamp(min=1e-9),
        "max": states.masked_fill(m == 0, torch.finfo(states.dtype).min).max(1).values,
    }[how]
    expected = torch.nn.functional.normalize(expected, dim=-1).numpy()
    got = pool(states.numpy(), mask.numpy(), how, normalize=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)


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


def test_fill_mask_ranks_candidates(tiny_bert_mlm_dir):
    (candidates,) = fill_mask("the cat sat on the [MASK] .", str(tiny_bert_mlm_dir), top_k=3)
    assert len(candidates) == 3
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    assert candidates[0].sequence.startswith("the cat sat on the")


def test_fill_mask_two_masks(tiny_bert_mlm_dir):
    assert len(fill_mask("[MASK] cat sat on the [MASK] .", str(tiny_bert_mlm_dir))) == 2


def test_fill_mask_without_mask_token(tiny_bert_mlm_dir):
    with pytest.raises(InvalidInputError, match="no \\[MASK\\]"):
        fill_mask("the cat sat", str(tiny_bert_mlm_dir))


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
