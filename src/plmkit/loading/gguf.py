"""GGUF files rewritten into the forms the engines want: plain fp32 safetensors for torch,
other quantisations for llama.cpp.

The embedded decoder ships as a Q4_1 GGUF that transformers can read but not save, so it
is dequantised once into a cached safetensors LlamaForCausalLM; llama.cpp's faster kernels
want Q8_0 or BF16, which llama.cpp itself rewrites. Both functions only write files:
finding the GGUF and caching the result are `locate.py`'s and `exports.py`'s.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

log = logging.getLogger("plmkit")

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_REQUANT = ("q8_0", "bf16", "f16")


def convert_gguf_to_safetensors(gguf: Path, target: Path) -> Path:
    """Dequantise a Llama GGUF to a plain fp32 safetensors model directory, atomically.

    transformers refuses to `save_pretrained` a GGUF-loaded model, so we copy its state
    into a fresh `LlamaForCausalLM` built from the same config (quantization_config dropped).
    """
    import torch
    from filelock import FileLock
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "model.safetensors").exists():
            return target
        log.info("converting %s to safetensors once (about 20 s) -> %s", gguf.name, target)
        bars_were_on = hf_logging.is_progress_bar_enabled()
        with warnings.catch_warnings():  # the hub's "HF_HUB_DISABLE_PROGRESS_BARS is set"
            warnings.simplefilter("ignore")
            hf_logging.enable_progress_bar()  # dequantising is the slow part: show it
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            quantised = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False
            )
        finally:
            if not bars_were_on:
                hf_logging.disable_progress_bar()
        config_dict = quantised.config.to_dict()
        config_dict.pop("quantization_config", None)
        config_dict["_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
        config = LlamaConfig.from_dict(config_dict)
        model = LlamaForCausalLM(config)
        model.load_state_dict(quantised.state_dict(), strict=True)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def requantize_gguf(source: Path, target: Path, variant: str) -> None:
    """Write `source` re-quantised by llama.cpp as `variant` (one of GGUF_REQUANT) to `target`.

    The shipped Q4_1 is the smallest file, but llama.cpp's faster kernels want other types
    (measured, quiet Zen 5, smollm2: one stream Q4_1 153 tok/s, Q8_0 166, BF16 103; eight
    prompts at once Q4_1 276, Q8_0 303, BF16 429). Without native bf16, F16 is the 16-bit
    type with a tiled GEMM (F16C) for batches: quiet Zen 3, eight prompts F16 239 tok/s,
    BF16 213, one stream 72 and 71. All keep the Q4_1 values (BF16 and F16 up to rounding,
    Q8_0 to within 1/254 of each block's range); `auto` checks chat answers and perplexity.
    """
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {
        "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
        "bf16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16,
        "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
    }[variant]
    params.allow_requantize = True
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0:
        raise RuntimeError(f"llama_model_quantize returned {status}")
