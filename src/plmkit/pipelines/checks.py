"""Checks every pipeline makes before it loads a model or lets `auto` measure backends:
is the model the kind the command needs? They read config.json only (no transformers,
no torch: `loading.config_values`), so a wrong model fails in milliseconds, in one line.

A config.json written by `save_pretrained` names its architectures (`BertModel`,
`GPT2LMHeadModel`, `BertForSequenceClassification`...). A causal-LM or masked-LM head
decides the kind. A bare `BertModel` / `GPT2Model` or a classifier head says nothing
certain: an encoder command lets it through (the loader still checks, so minilm-like
directories start without torch), and a decoder command asks `loading.require_kind`,
which imports transformers (about a second) but measures nothing.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from plmkit import loading
from plmkit.errors import WrongModelKindError
from plmkit.registry import Kind, resolve

DECODER_HEADS = ("ForCausalLM", "LMHeadModel")
ENCODER_HEADS = ("ForMaskedLM",)
CLASSIFIER_HEAD = "ForSequenceClassification"


def declared_kind(values: SimpleNamespace) -> Kind | None:
    """encoder or decoder, as config.json's architectures declare it; None when unsure."""
    names = [str(name) for name in getattr(values, "architectures", None) or []]
    if any(name.endswith(DECODER_HEADS) for name in names):
        return "decoder"
    if any(name.endswith(ENCODER_HEADS) for name in names):
        return "encoder"
    return None


def require_kind(model: str, kind: Kind, command: str) -> None:
    """Fail clearly, before any weights load, when `model` is not a `kind` model."""
    spec = resolve(model)
    if spec.kind is None:
        spec = replace(spec, kind=declared_kind(loading.config_values(spec)))
        if spec.kind is None and kind == "encoder":
            return
    loading.require_kind(spec, kind, command)  # no config load when the kind is known


def require_classifier(model: str, command: str) -> list[str]:
    """The label names of a fine-tuned classifier, read from its config.json; an error
    naming the fix when `model` has no classification head (a bare encoder, a decoder)."""
    spec = resolve(model)
    values = loading.config_values(spec)
    names = [str(name) for name in getattr(values, "architectures", None) or []]
    id2label = getattr(values, "id2label", None) or {}
    if not any(name.endswith(CLASSIFIER_HEAD) for name in names) or not id2label:
        what = ", ".join(names) or getattr(values, "model_type", "no architecture")
        raise WrongModelKindError(
            f"'{spec.name}' is not a fine-tuned classifier ({what}), so `plm {command}` "
            "cannot use it",
            f"fine-tune one: plm finetune --model {spec.name} --out runs/sentiment, then "
            f"plm {command} runs/sentiment ...",
        )
    return [str(id2label[key]) for key in sorted(id2label, key=int)]
