"""The networks, loaded for one purpose each, with the head that purpose needs.

Every loader goes through `_from_pretrained`: safetensors only (`use_safetensors=True`, no
pickle), `trust_remote_code` off, and fp16/bf16 checkpoints upcast to fp32 unless a dtype
is asked for. A loader for inference fails clearly when the checkpoint lacks its trained
head; a loader for training makes the head it needs and says which weights are new.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from plmkit.errors import WrongModelKindError
from plmkit.loading.locate import NO_REMOTE_CODE, load_config, model_dir, model_kind, require_kind
from plmkit.loading.tokenizer import load_tokenizer
from plmkit.registry import ModelSpec, resolve

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel


_LOAD_LOCK = threading.RLock()
"""One from_pretrained at a time: transformers 5 is not thread-safe while loading (three
threads loading a BertForMaskedLM together all came back without its tied decoder), and
the server loads in worker threads."""


def _from_pretrained(auto_class: Any, spec: ModelSpec | str, dtype: torch.dtype | None, **kw):
    import torch

    with _LOAD_LOCK:
        return auto_class.from_pretrained(
            model_dir(spec),
            dtype=dtype or torch.float32,
            use_safetensors=True,
            **NO_REMOTE_CODE,
            **kw,
        )


def load_encoder(spec: ModelSpec | str, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """The bare encoder (token states), whatever head the checkpoint carries."""
    from transformers import AutoModel

    spec = require_kind(spec, "encoder", "encode")
    return _from_pretrained(AutoModel, spec, dtype).eval()


def load_masked_lm(spec: ModelSpec | str, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """An encoder with a trained MLM head; fails clearly when the head is missing."""
    from transformers import AutoModelForMaskedLM

    spec = require_kind(spec, "encoder", "fill-mask")
    model, info = _from_pretrained(AutoModelForMaskedLM, spec, dtype, output_loading_info=True)
    if info["missing_keys"]:
        raise WrongModelKindError(
            f"'{spec.name}' has no trained MLM head (missing: {sorted(info['missing_keys'])[0]}"
            f" and {len(info['missing_keys']) - 1} more), so it cannot fill masks",
            "train one with `plm pretrain mlm --model "
            f"{spec.name} --out runs/mlm`, then `plm fill-mask runs/mlm TEXT`"
            + "".join(f", or use {name} (in your HF cache)" for name in _cached_mlm_models()),
        )
    return model.eval()


def _cached_mlm_models() -> list[str]:
    """Well-known hub MLM models that are in the local HF cache (none is suggested that
    `plm models` would show as not cached)."""
    from huggingface_hub import try_to_load_from_cache

    names = ("bert-base-uncased", "google-bert/bert-base-uncased", "distilbert-base-uncased")
    return [n for n in names if isinstance(try_to_load_from_cache(n, "config.json"), str)][:1]


def load_causal_lm(spec: ModelSpec | str, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """A decoder with its LM head, ready for generate() (pad = eos when it has no pad)."""
    from transformers import AutoModelForCausalLM

    spec = require_kind(spec, "decoder", "generate")
    model = _from_pretrained(AutoModelForCausalLM, spec, dtype).eval()
    gen = model.generation_config
    if gen.pad_token_id is None:
        eos = gen.eos_token_id
        gen.pad_token_id = eos[0] if isinstance(eos, list) else eos
    return model


def load_classifier(spec: ModelSpec | str, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """An encoder (or a decoder) with a trained sequence-classification head, e.g. from
    `plm finetune` (its accurate recipe fine-tunes the embedded decoder)."""
    from transformers import AutoModelForSequenceClassification

    spec = resolve(spec) if isinstance(spec, str) else spec
    model, info = _from_pretrained(
        AutoModelForSequenceClassification, spec, dtype, output_loading_info=True
    )
    head = [k for k in info["missing_keys"] if "classifier" in k or "score" in k]
    if head:
        raise WrongModelKindError(
            f"'{spec.name}' has no trained classification head (missing: {head[0]})",
            "fine-tune one with `plm finetune` and pass its output directory as --model",
        )
    return model.eval()


def load_for_attention(spec: ModelSpec | str) -> PreTrainedModel:
    """The bare network (encoder or decoder, no head) with eager attention, fp32: SDPA and
    flash kernels never materialise the attention weights, so only this loader (for the
    attention view) asks for the slower "eager" implementation that returns them."""
    from transformers import AutoModel

    spec = resolve(spec) if isinstance(spec, str) else spec
    return _from_pretrained(AutoModel, spec, None, attn_implementation="eager").eval()


# --- for training: the head is made when the checkpoint lacks it -------------------------


def load_for_finetune(
    spec: ModelSpec | str,
    num_labels: int,
    id2label: dict[int, str],
    dtype: torch.dtype | None = None,
) -> PreTrainedModel:
    """A pre-trained encoder (or decoder) with a fresh `num_labels`-way classification head,
    in train mode. A head of another size already in the checkpoint (a model fine-tuned on
    other labels) is replaced; decoders get `pad_token_id`, to pool their last real token."""
    from transformers import AutoModelForSequenceClassification

    spec = resolve(spec) if isinstance(spec, str) else spec
    config = load_config(spec)
    extra: dict[str, Any] = {}
    if model_kind(config) == "decoder" and config.pad_token_id is None:
        extra["pad_token_id"] = load_tokenizer(spec).pad_token_id
    model = _from_pretrained(
        AutoModelForSequenceClassification,
        spec,
        dtype,
        num_labels=num_labels,
        id2label=dict(id2label),
        label2id={name: i for i, name in id2label.items()},
        ignore_mismatched_sizes=True,
        **extra,
    )
    return model.train()


def load_for_mlm_training(
    spec: ModelSpec | str, dtype: torch.dtype | None = None
) -> tuple[PreTrainedModel, list[str]]:
    """An encoder with an MLM head, in train mode, and the names of head weights made new.

    A checkpoint without a head (the embedded minilm is a bare BertModel) gets a fresh one
    whose decoder is tied to the word embeddings, as in BERT. A BERT pooler in the checkpoint
    is kept (BertForMaskedLM has none), so a classifier fine-tuned from the saved model starts
    from the same pooler as one fine-tuned from the original.
    """
    from safetensors import safe_open
    from transformers import AutoModelForMaskedLM
    from transformers.models.bert.modeling_bert import BertPooler

    spec = require_kind(spec, "encoder", "pretrain mlm")
    model, info = _from_pretrained(AutoModelForMaskedLM, spec, dtype, output_loading_info=True)
    new_head = sorted(info["missing_keys"])
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    if new_head and outputs is not None and outputs.weight is not inputs.weight:
        outputs.weight = inputs.weight
        model.config.tie_word_embeddings = True
    pooler = {k for k in info["unexpected_keys"] if k.split("pooler.", 1)[0] in ("", "bert.")}
    if model.config.model_type == "bert" and pooler and getattr(model.bert, "pooler", 1) is None:
        model.bert.pooler = BertPooler(model.config).to(inputs.weight.dtype)
        state = {}
        for file in model_dir(spec).glob("*.safetensors"):
            with safe_open(str(file), "pt") as handle:
                for key in pooler & set(handle.keys()):
                    state[key.split("pooler.", 1)[1]] = handle.get_tensor(key)
        model.bert.pooler.load_state_dict(state)
    return model.train(), new_head


def load_for_clm_training(
    spec: ModelSpec | str, dtype: torch.dtype | None = None
) -> PreTrainedModel:
    """A decoder with its LM head, in train mode, to continue causal-LM pre-training."""
    spec = require_kind(spec, "decoder", "pretrain clm")
    return load_causal_lm(spec, dtype).train()
