"""pipelines/attention.py: one layer's attention weights, for encoders and decoders."""

import pytest
import torch

from plmkit import loading
from plmkit.errors import InvalidInputError
from plmkit.pipelines.attention import attention


def test_encoder_rows_are_distributions_and_match_the_model(tiny_bert_dir):
    model = str(tiny_bert_dir)
    found = attention("the cat sat on the mat", model, layer=1, head=1)
    size = len(found.tokens)
    assert found.kind == "encoder" and (found.num_layers, found.num_heads) == (2, 2)
    assert found.special[0] and found.special[-1] and not any(found.special[1:-1])
    assert len(found.weights) == size and all(len(row) == size for row in found.weights)
    for row in found.weights:
        assert sum(row) == pytest.approx(1, abs=1e-3)
    assert any(w > 0 for w in found.weights[0][1:])  # an encoder looks both ways
    net = loading.load_for_attention(model)
    assert net.config._attn_implementation == "eager"
    ids = loading.load_tokenizer(model)("the cat sat on the mat", return_tensors="pt")
    with torch.no_grad():
        heads = net(**ids, output_attentions=True).attentions[1][0]  # (H, T, T)
    assert torch.allclose(torch.tensor(found.weights), heads[1], atol=1e-4)
    mean = attention("the cat sat on the mat", model, layer=1)
    assert mean.head is None
    assert torch.allclose(torch.tensor(mean.weights), heads.mean(dim=0), atol=1e-4)


def test_decoders_look_only_back(tiny_gpt2_dir, tiny_llama_dir):
    for model in (str(tiny_gpt2_dir), str(tiny_llama_dir)):
        found = attention("the movie was good", model, layer=0, head=0)
        assert found.kind == "decoder"
        for i, row in enumerate(found.weights):
            assert sum(row) == pytest.approx(1, abs=1e-3)
            assert all(w == 0 for w in row[i + 1 :])


def test_bounds(tiny_bert_dir):
    model = str(tiny_bert_dir)
    with pytest.raises(InvalidInputError, match="layer 2 does not exist"):
        attention("text", model, layer=2)
    with pytest.raises(InvalidInputError, match="head 5 does not exist"):
        attention("text", model, head=5)
    with pytest.raises(InvalidInputError, match="max_tokens"):
        attention("text", model, max_tokens=1000)
    short = attention("word " * 50, model, max_tokens=8)
    assert short.truncated and len(short.weights) == 8
