"""plmkit.pooling: cls / mean / max pooling and the checkpoint's own pooling settings."""

import json

import numpy as np
import pytest
import torch

from plmkit.errors import InvalidInputError
from plmkit.pooling import default_pooling, pool


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


def test_unknown_pooling_is_refused():
    with pytest.raises(InvalidInputError, match="unknown pooling 'sum'"):
        pool(np.zeros((1, 2, 3)), np.ones((1, 2)), "sum")


def test_default_pooling_reads_a_sentence_transformers_layout(tmp_path):
    assert default_pooling(tmp_path) == ("mean", False)  # plain checkpoint
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"type": "sentence_transformers.models.Transformer"},
                {"type": "sentence_transformers.models.Pooling"},
                {"type": "sentence_transformers.models.Normalize"},
            ]
        )
    )
    assert default_pooling(tmp_path) == ("cls", True)
