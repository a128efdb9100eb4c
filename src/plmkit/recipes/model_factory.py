"""Models built from a config, with random weights, for pre-training from scratch.

Two sizes per architecture (`config.SCRATCH_SIZES`, where `PretrainConfig.validate` checks
them), small enough to train on a laptop CPU in minutes: tiny (4 layers, hidden 128) and small
(6 layers, hidden 256). The vocabulary, the special token ids and the maximum length come from
the tokenizer the model will be trained with. No weight file is read here (that is
`plmkit.loading`'s job); the seed makes the init repeatable.

Dropout: decoders get none (as nanoGPT and recent LM pre-training do: minutes over a small
corpus underfit, dropout only slows learning); encoders keep BERT's 0.1, the setting BERT was
pre-trained with and the one a classifier fine-tuned from them starts from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plmkit.config import SCRATCH_OBJECTIVE, SCRATCH_SIZES, ScratchSize, check_scratch_model
from plmkit.errors import InvalidInputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def _config(arch: str, size: ScratchSize, tokenizer: Any, max_positions: int) -> Any:
    from transformers import BertConfig, DistilBertConfig, GPT2Config, LlamaConfig

    vocab = len(tokenizer)
    if arch == "bert":
        return BertConfig(
            vocab_size=vocab,
            hidden_size=size.hidden,
            num_hidden_layers=size.layers,
            num_attention_heads=size.heads,
            intermediate_size=size.ffn,
            max_position_embeddings=max_positions,
            pad_token_id=tokenizer.pad_token_id,
        )
    if arch == "distilbert":
        return DistilBertConfig(
            vocab_size=vocab,
            dim=size.hidden,
            n_layers=size.layers,
            n_heads=size.heads,
            hidden_dim=size.ffn,
            max_position_embeddings=max_positions,
            pad_token_id=tokenizer.pad_token_id,
        )
    eos = tokenizer.eos_token_id
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab,
            n_embd=size.hidden,
            n_layer=size.layers,
            n_head=size.heads,
            n_inner=size.ffn,
            n_positions=max_positions,
            bos_token_id=bos,
            eos_token_id=eos,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
        )
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=size.hidden,
        intermediate_size=size.ffn,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=max(1, size.heads // 2),
        max_position_embeddings=max_positions,
        bos_token_id=bos,
        eos_token_id=eos,
        tie_word_embeddings=True,
    )


def scratch_model(
    arch: str, size: str, tokenizer: Any, *, max_positions: int = 512, seed: int = 42
) -> PreTrainedModel:
    """A randomly initialised BertForMaskedLM, DistilBertForMaskedLM, GPT2LMHeadModel or
    LlamaForCausalLM sized `size`, in train mode."""
    import torch
    from transformers import (
        BertForMaskedLM,
        DistilBertForMaskedLM,
        GPT2LMHeadModel,
        LlamaForCausalLM,
    )

    objective = SCRATCH_OBJECTIVE.get(arch, "mlm")
    check_scratch_model(arch, size, objective)
    if objective == "mlm" and tokenizer.mask_token_id is None:
        raise InvalidInputError(
            f"the tokenizer has no mask token, so a {arch} cannot be pre-trained with MLM",
            "add --train-tokenizer, or pass a BERT-family tokenizer (--tokenizer minilm)",
        )
    if objective == "clm" and tokenizer.eos_token_id is None:
        raise InvalidInputError(
            f"the tokenizer has no end-of-text token to separate documents for a {arch}",
            "add --train-tokenizer, or pass a GPT-family tokenizer (--tokenizer smollm2)",
        )
    classes = {
        "bert": BertForMaskedLM,
        "distilbert": DistilBertForMaskedLM,
        "gpt2": GPT2LMHeadModel,
        "llama": LlamaForCausalLM,
    }
    torch.manual_seed(seed)
    model = classes[arch](_config(arch, SCRATCH_SIZES[size], tokenizer, max_positions))
    if objective == "clm":
        model.generation_config.pad_token_id = tokenizer.eos_token_id
    return model.train()


def parameter_count(model: PreTrainedModel) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
