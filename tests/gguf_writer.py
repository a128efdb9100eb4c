"""Write a Hugging Face LlamaForCausalLM directory as an F32 GGUF, for llama.cpp tests.

A small stand-in for llama.cpp's convert_hf_to_gguf.py (its LlamaModel and the GPT-2 vocab
path), enough for the tiny random Llama of conftest.py: safetensors weights, a byte-level
BPE tokenizer.json, no rope scaling, no biases. Every tensor is written as F32, so the only
differences from torch fp32 are llama.cpp's own (its F16 KV cache, kernel order).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TENSOR_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """HF's rotate-half q/k rows back to llama.cpp's interleaved pairs (LlamaModel.permute)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _gguf_name(name: str, config: dict) -> tuple[str | None, bool]:
    """The GGUF name of an HF tensor (None: not written), and whether q/k rope needs permuting."""
    if name == "model.embed_tokens.weight":
        return "token_embd.weight", False
    if name == "model.norm.weight":
        return "output_norm.weight", False
    if name == "lm_head.weight":  # tied: llama.cpp reuses token_embd when output is absent
        return (None if config.get("tie_word_embeddings") else "output.weight"), False
    parts = name.split(".")
    module = ".".join(parts[3:-1])
    if parts[:2] != ["model", "layers"] or parts[-1] != "weight" or module not in TENSOR_NAMES:
        raise ValueError(f"tensor {name} has no GGUF name in this test writer")
    rope = module in ("self_attn.q_proj", "self_attn.k_proj")
    return f"blk.{parts[2]}.{TENSOR_NAMES[module]}.weight", rope


def _vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    """Tokens by id, their GGUF token types, and the BPE merges, from tokenizer.json."""
    import gguf

    spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    by_id = {index: token for token, index in spec["model"]["vocab"].items()}
    types = {}
    for added in spec.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        special = added.get("special", False)
        types[added["id"]] = gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED
    tokens, token_types = [], []
    for index in range(vocab_size):  # like get_vocab_base: pad the embedding's extra rows
        if index in by_id:
            tokens.append(by_id[index])
            token_types.append(int(types.get(index, gguf.TokenType.NORMAL)))
        else:
            tokens.append(f"[PAD{index}]")
            token_types.append(int(gguf.TokenType.UNUSED))
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges", [])]
    return tokens, token_types, merges


def write_llama_gguf(model_dir: Path, out_file: Path) -> Path:
    """Convert `model_dir` (config.json, *.safetensors, tokenizer.json) to an F32 GGUF."""
    import gguf
    from safetensors.torch import load_file

    model_dir, out_file = Path(model_dir), Path(out_file)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    rope = config.get("rope_parameters") or {}  # transformers 5; older configs: rope_theta
    if config.get("rope_scaling") or rope.get("rope_type", "default") != "default":
        raise NotImplementedError("rope scaling is not handled by this test writer")
    rope_theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    n_head = config["num_attention_heads"]
    n_kv_head = config.get("num_key_value_heads") or n_head
    head_dim = config.get("head_dim") or config["hidden_size"] // n_head

    writer = gguf.GGUFWriter(out_file, arch="llama")
    writer.add_name(model_dir.name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(config["vocab_size"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv_head)
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)

    tokens, token_types, merges = _vocab(model_dir, config["vocab_size"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    if isinstance(config.get("bos_token_id"), int):
        writer.add_bos_token_id(config["bos_token_id"])
    if isinstance(config.get("eos_token_id"), int):
        writer.add_eos_token_id(config["eos_token_id"])
    writer.add_add_bos_token(False)

    for part in sorted(model_dir.glob("*.safetensors")):
        for name, tensor in load_file(part).items():
            new_name, permuted = _gguf_name(name, config)
            if new_name is None:
                continue
            data = np.ascontiguousarray(tensor.float().numpy())
            if permuted:
                data = permute(data, n_head if ".attn_q." in new_name else n_kv_head)
            writer.add_tensor(new_name, data, raw_dtype=gguf.GGMLQuantizationType.F32)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file
