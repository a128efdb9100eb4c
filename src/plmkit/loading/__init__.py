"""The only package that finds weight files and calls `from_pretrained`.

Rules kept here, in one place: weights load from safetensors only (`use_safetensors=True`,
no pickle), `trust_remote_code` is always off, fp16/bf16 checkpoints are upcast to fp32
unless a dtype is asked for, and hub ids are looked up in the local Hugging Face cache
without network access (unless HF_HUB_OFFLINE=0).

    locate.py     model name -> directory (embedded, hub cache, local), config, kind
    gguf.py       GGUF -> fp32 safetensors (the embedded decoder), GGUF re-quantisation
    tokenizer.py  the tokenizer, by its named class (no torch import)
    saved_tokenizer.py  that tokenizer, saved: encode / generate without transformers
    models.py     the loaders: one per purpose, with the head it needs
    exports.py    ONNX / CTranslate2 / re-quantised GGUF copies, made once and cached
    cache.py      models kept per process (`cached`, `clear`), and the bounded cache
"""

from plmkit.loading.cache import KEPT_MODELS, BoundedCache, cached, clear
from plmkit.loading.exports import (
    FIRST_TOKEN_KEY,
    convert_once,
    converted_dir,
    ct2_model_dir,
    gguf_requantized,
    onnx_encoder_file,
)
from plmkit.loading.gguf import GGUF_REQUANT, SMOLLM2_GGUF, convert_gguf_to_safetensors
from plmkit.loading.locate import (
    config_values,
    gguf_file,
    load_config,
    model_dir,
    model_kind,
    package_file,
    require_kind,
)
from plmkit.loading.models import (
    load_causal_lm,
    load_classifier,
    load_encoder,
    load_for_attention,
    load_for_clm_training,
    load_for_finetune,
    load_for_mlm_training,
    load_masked_lm,
)
from plmkit.loading.saved_tokenizer import SavedTokenizer, load_inference_tokenizer
from plmkit.loading.tokenizer import load_tokenizer, tokenizer_class

__all__ = [
    "FIRST_TOKEN_KEY",
    "GGUF_REQUANT",
    "KEPT_MODELS",
    "SMOLLM2_GGUF",
    "BoundedCache",
    "SavedTokenizer",
    "cached",
    "clear",
    "config_values",
    "convert_gguf_to_safetensors",
    "convert_once",
    "converted_dir",
    "ct2_model_dir",
    "gguf_file",
    "gguf_requantized",
    "load_causal_lm",
    "load_classifier",
    "load_config",
    "load_encoder",
    "load_for_attention",
    "load_for_clm_training",
    "load_for_finetune",
    "load_for_mlm_training",
    "load_inference_tokenizer",
    "load_masked_lm",
    "load_tokenizer",
    "model_dir",
    "model_kind",
    "onnx_encoder_file",
    "package_file",
    "require_kind",
    "tokenizer_class",
]
