"""What a server needs to know about a model before it serves it, asked at the pipeline level.

`describe_model` answers from config.json and the tokenizer (no weights load): the kind of
model (an encoder for embeddings, a generator for completions, a fine-tuned classifier),
its labels, the longest input it takes and its width. A directory with pickle weights only,
or with no config.json, is refused here, naming the conversion to do. `warm_up` then runs
each pipeline once on a short text, so the weights (and the backend `auto` picks) are
loaded before the first request. `token_counts` counts an input's tokens the way the
pipelines do (special tokens included), so the server can refuse a text that would be cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from plmkit import loading
from plmkit.config import GenerateConfig
from plmkit.pipelines.checks import declared_kind, require_classifier, require_kind
from plmkit.registry import resolve

ServedKind = Literal["encoder", "generator", "classifier"]
SERVED_KINDS: tuple[ServedKind, ...] = ("encoder", "generator", "classifier")
WARM_UP_TEXT = "warm up"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: ServedKind
    labels: tuple[str, ...] = ()
    """A classifier's label names, in the order of its outputs."""
    input_limit: int | None = None
    """Tokens one input may have (special tokens included); a generator's context."""
    hidden_size: int | None = None
    """The width of an encoder's embeddings."""
    fill_mask: bool = False
    """An encoder with its masked-LM head (fill-mask works)."""


def infer_kind(model: str) -> ServedKind:
    """classifier, encoder or generator, from config.json's architectures (transformers
    decides when they say nothing certain)."""
    values = loading.config_values(model)
    names = [str(name) for name in getattr(values, "architectures", None) or []]
    if getattr(values, "id2label", None) and any(
        name.endswith("ForSequenceClassification") for name in names
    ):
        return "classifier"
    kind = resolve(model).kind or declared_kind(values)
    kind = kind or loading.model_kind(loading.load_config(model))
    return "generator" if kind == "decoder" else "encoder"


def describe_model(model: str, kind: ServedKind | None = None) -> ModelInfo:
    """What `model` is, checked to be a `kind` model (inferred when None); no weights load."""
    from plmkit.pipelines.classify import model_max_length
    from plmkit.pipelines.generate import model_context

    values = loading.config_values(model)  # no config.json or pickle-only weights: refused
    kind = kind or infer_kind(model)
    if kind == "generator":
        require_kind(model, "decoder", "serve --generator")
        return ModelInfo(model, kind, input_limit=model_context(model))
    tokenizer = loading.cached("tokenizer", model)
    hidden = getattr(values, "hidden_size", None)
    if kind == "classifier":
        labels = tuple(require_classifier(model, "serve --classifier"))
        limit = model_max_length(tokenizer, values)
        return ModelInfo(model, kind, labels, limit, hidden)
    require_kind(model, "encoder", "serve --encoder")
    positions = getattr(values, "max_position_embeddings", None) or tokenizer.model_max_length
    limit = int(min(tokenizer.model_max_length or positions, positions))
    names = [str(name) for name in getattr(values, "architectures", None) or []]
    masked_lm = any(name.endswith("ForMaskedLM") for name in names)
    return ModelInfo(model, kind, (), limit, hidden, masked_lm)


def token_counts(texts: Sequence[str], model: str) -> list[int]:
    """Each text's token count as the encoder and classifier pipelines see it (special
    tokens included, nothing cut)."""
    tokenizer = loading.cached("tokenizer", model)
    return [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]


def warm_up(info: ModelInfo, backend: str = "auto") -> None:
    """Run `info`'s pipeline once on a short text: its weights and engine are then loaded
    (and `auto` has chosen), so the first request does not wait for them."""
    if info.kind == "encoder":
        from plmkit.pipelines.encode import encode

        encode(WARM_UP_TEXT, info.name, backend=backend)
    elif info.kind == "classifier":
        from plmkit.pipelines.classify import classify

        classify(WARM_UP_TEXT, info.name, backend=backend)
    else:
        from plmkit.pipelines.generate import generate

        generate(WARM_UP_TEXT, info.name, GenerateConfig(max_new_tokens=1), backend=backend)


def engine_name(info: ModelInfo, backend: str = "auto") -> str:
    """The engine `info`'s pipeline runs on for `backend` (what `auto` chose, read from its
    cache once `warm_up` has run: nothing is measured or loaded again)."""
    from plmkit import backends

    if info.kind == "generator":
        return backends.choose(info.name, "decoder", backend=backend)
    task = "classify" if info.kind == "classifier" else "embed"
    return backends.choose(info.name, "encoder", task, backend)
