"""Classifiers whose head reads only the first token: the last layer computed for it alone.

A BERT-style sequence classifier (BERT's pooler, RoBERTa's head) reads the last layer's
state at position 0 and nothing else. That layer still needs every token's key and value,
but its query, attention output, feed-forward and LayerNorms only for position 0: for
MiniLM (6 layers) 14% of the encoder's matmul FLOPs at any length are never read. The ONNX
classify export uses `first_token_only(network)`, which swaps the last layer for one that
does exactly that, when the layer has BERT's parts (attention.self.query/key/value,
attention.output, feed_forward_chunk) and the logits stay those of the whole network on
padded probe texts (max |difference| <= TOLERANCE); otherwise the network is exported whole.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch  # imported only by the ONNX export (exports.py), never at start-up

log = logging.getLogger("plmkit")

TOLERANCE = 1e-4
"""Largest |logit difference| from the whole network on the probe batch (fp32 reorderings
are ~1e-6)."""


class FirstTokenLayer(torch.nn.Module):
    """A BERT layer's forward for the query at position 0 only: (B, T, H) -> (B, 1, H)."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor, attention_mask=None, *args, **kwargs):
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
        from transformers.models.bert.modeling_bert import eager_attention_forward

        attention = self.layer.attention.self
        batch, tokens, _ = hidden_states.shape
        size = attention.attention_head_size
        first = hidden_states[:, :1]
        query = attention.query(first).view(batch, 1, -1, size).transpose(1, 2)
        key = attention.key(hidden_states).view(batch, tokens, -1, size).transpose(1, 2)
        value = attention.value(hidden_states).view(batch, tokens, -1, size).transpose(1, 2)
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = attention_mask[:, :, :1, :]  # the first query's row
        interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            attention.config._attn_implementation, eager_attention_forward
        )
        context, _ = interface(
            attention, query, key, value, attention_mask, dropout=0.0, scaling=attention.scaling
        )
        context = context.reshape(batch, 1, -1)
        attended = self.layer.attention.output(context, first)
        return self.layer.feed_forward_chunk(attended)


def _last_layer(network: torch.nn.Module) -> tuple[Any, int] | None:
    """(the ModuleList holding the encoder layers, the last index), or None."""
    base = getattr(network, "base_model", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return None
    last = layers[-1]
    attention = getattr(last, "attention", None)
    parts = ("query", "key", "value", "attention_head_size", "scaling", "config")
    if not all(hasattr(getattr(attention, "self", None), p) for p in parts):
        return None
    if not hasattr(attention, "output") or not hasattr(last, "feed_forward_chunk"):
        return None
    return layers, len(layers) - 1


def first_token_only(network: torch.nn.Module, probe: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A copy of the classifier `network` whose last layer runs for position 0 only, when
    that gives the same logits on `probe` (input_ids and attention_mask with padding);
    else `network` itself."""
    found = _last_layer(network)
    if found is None:
        return network
    trimmed = copy.deepcopy(network).eval()
    layers, index = _last_layer(trimmed)
    layers[index] = FirstTokenLayer(layers[index])
    with torch.inference_mode():
        try:
            whole = network(**probe).logits
            fast = trimmed(**probe).logits
        except Exception as error:  # noqa: BLE001 - an unusual head: export the whole network
            log.info("first-token export not used: %s", error)
            return network
    if whole.shape != fast.shape or float((whole - fast).abs().max()) > TOLERANCE:
        log.info("first-token export not used: its logits differ from the whole network's")
        return network
    return trimmed
