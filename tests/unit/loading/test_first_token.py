"""first_token_only: a classifier's last layer computed for position 0 alone, the same logits."""

from __future__ import annotations

import pytest
import torch

from plmkit.loading.first_token import FirstTokenLayer, first_token_only


def _classifier(tiny_bert_dir):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig.from_pretrained(tiny_bert_dir)
    config.num_labels = 3
    return BertForSequenceClassification(config).eval()


def _batch(lengths: list[int], vocab: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    ids = torch.randint(5, vocab, (len(lengths), longest), generator=generator)
    mask = torch.tensor([[1] * n + [0] * (longest - n) for n in lengths])
    return {"input_ids": ids * mask, "attention_mask": mask}


def test_same_logits_from_the_first_token_only(tiny_bert_dir):
    network = _classifier(tiny_bert_dir)
    vocab = network.config.vocab_size
    trimmed = first_token_only(network, _batch([4, 9], vocab, 0))
    assert trimmed is not network
    assert isinstance(trimmed.bert.encoder.layer[-1], FirstTokenLayer)
    assert not isinstance(network.bert.encoder.layer[-1], FirstTokenLayer)  # left as it was
    batch = _batch([1, 7, 16, 3], vocab, 1)  # other lengths and ids than the probe's
    with torch.inference_mode():
        expected, got = network(**batch).logits, trimmed(**batch).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_a_head_that_reads_every_token_keeps_the_whole_network(tiny_bert_dir):
    """A pooler that averages all positions would see one: the check finds different logits."""
    network = _classifier(tiny_bert_dir)
    pooler = network.bert.pooler

    class MeanPooler(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = pooler

        def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
            return self.inner(hidden_states.mean(1, keepdim=True))

    network.bert.pooler = MeanPooler()
    assert first_token_only(network, _batch([4, 9], network.config.vocab_size, 0)) is network


def test_other_layer_layouts_keep_the_whole_network():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(vocab_size=99, dim=32, n_layers=1, n_heads=2, hidden_dim=37)
    network = DistilBertForSequenceClassification(config).eval()
    assert first_token_only(network, _batch([3, 5], 99, 0)) is network


def test_the_onnx_classify_export_uses_it(tiny_bert_dir, tmp_path):
    """The exported classifier's last layer is the first-token one, logits as torch's."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from plmkit import loading

    network = _classifier(tiny_bert_dir)
    directory = tmp_path / "classifier"
    network.save_pretrained(directory)
    loading.load_tokenizer(str(tiny_bert_dir)).save_pretrained(directory)
    path = loading.onnx_encoder_file(str(directory), "classify", "fp32")
    layers = network.config.num_hidden_layers
    names = [n.name for n in onnx.load(str(path)).graph.node]
    # the whole network's last layer would trace as .../layer.L/attention/self/query/MatMul
    assert any(f"/layer.{layers - 2}/attention/self/query/" in n for n in names)
    assert not any(f"/layer.{layers - 1}/attention/self/query/" in n for n in names)
    batch = _batch([2, 11, 6], network.config.vocab_size, 2)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {k: v.numpy() for k, v in batch.items()}
    with torch.inference_mode():
        expected = network(**batch).logits.numpy()
    got = session.run(None, feeds)[0]
    assert abs(got - expected).max() < 1e-4
