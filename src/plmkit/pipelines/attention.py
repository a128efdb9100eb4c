"""Where a layer's heads look: the attention weights of one layer and head for one text.

    attention(text, model, *, layer=0, head=None) -> AttentionMap

preprocess (tokenize, cut at `max_tokens`) -> _forward (the bare network with eager
attention, `loading.cached("attention")`, asked for its attentions) -> postprocess (the
(T, T) weights of `layer` for `head`, or averaged over heads when `head` is None).

Row i is where token i looks: each row sums to 1. Encoders (BERT family) look both ways;
decoders (GPT family) only back, so their rows are 0 right of the diagonal. Only this
pipeline loads eager attention: the fast SDPA kernels the other pipelines use never
build these weights. The model is fp32 torch whatever engine serves the model's other
routes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from plmkit import loading
from plmkit.errors import InvalidInputError
from plmkit.pipelines.classify import model_max_length
from plmkit.validation import require_texts

MAX_TOKENS = 256
"""The longest input shown: a (T, T) grid past this is neither fast nor readable."""


@dataclass
class AttentionMap:
    text: str
    tokens: list[str]
    special: list[bool]
    layer: int
    head: int | None
    """None: the mean over the layer's heads."""
    num_layers: int
    num_heads: int
    weights: list[list[float]]
    """(T, T): weights[i][j] is how much token i attends to token j; rows sum to 1."""
    kind: str
    """encoder or decoder (causal: nothing right of the diagonal)."""
    truncated: bool

    def to_dict(self) -> dict:
        return asdict(self)


def attention(
    text: str,
    model: str,
    *,
    layer: int = 0,
    head: int | None = None,
    max_tokens: int = 128,
) -> AttentionMap:
    """The attention weights of `layer` (0-based) and `head` (None: all heads averaged) of
    `model` (an encoder, classifier or decoder) on `text`, cut at `max_tokens` (1..256)."""
    (text,) = require_texts(text)
    if not 1 <= max_tokens <= MAX_TOKENS:
        raise InvalidInputError(
            f"max_tokens must be between 1 and {MAX_TOKENS}, got {max_tokens}",
            f"pass max_tokens up to {MAX_TOKENS}",
        )
    config = loading.load_config(model)
    num_layers, num_heads = config.num_hidden_layers, config.num_attention_heads
    if not 0 <= layer < num_layers:
        raise InvalidInputError(
            f"layer {layer} does not exist: '{model}' has layers 0 to {num_layers - 1}",
            f"pass a layer from 0 to {num_layers - 1}",
        )
    if head is not None and not 0 <= head < num_heads:
        raise InvalidInputError(
            f"head {head} does not exist: '{model}' has heads 0 to {num_heads - 1} a layer",
            f"pass a head from 0 to {num_heads - 1}, or none for their mean",
        )
    tokenizer = loading.cached("tokenizer", model)
    limit = min(max_tokens, model_max_length(tokenizer, config))
    encoding, truncated = preprocess(text, tokenizer, limit)
    net = loading.cached("attention", model)
    weights = _forward(net, encoding, layer, head)
    return AttentionMap(
        text=text,
        tokens=tokenizer.convert_ids_to_tokens(list(encoding["input_ids"])),
        special=[bool(m) for m in encoding["special_tokens_mask"]],
        layer=layer,
        head=head,
        num_layers=num_layers,
        num_heads=num_heads,
        weights=weights,
        kind=loading.model_kind(config),
        truncated=truncated,
    )


def preprocess(text: str, tokenizer: Any, limit: int) -> tuple[dict, bool]:
    """The text's ids and special-tokens mask, cut at `limit` tokens; whether it was cut."""
    whole = len(tokenizer(text)["input_ids"])
    encoding = tokenizer(text, truncation=True, max_length=limit, return_special_tokens_mask=True)
    return encoding, whole > len(encoding["input_ids"])


def _forward(net: Any, encoding: dict, layer: int, head: int | None) -> list[list[float]]:
    import torch

    input_ids = torch.tensor([encoding["input_ids"]])  # (1, T)
    with torch.inference_mode():
        output = net(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=True
        )
    weights = output.attentions[layer][0]  # (H, T, T)
    chosen = weights.mean(dim=0) if head is None else weights[head]  # (T, T)
    return [[round(float(w), 5) for w in row] for row in chosen.float()]
