"""Where a result came from: the provenance block of every results JSON, and the final model
directory written so that a `plmkit.json` in it means the model is complete.

- `run_record(seed=..., spec=..., ...)`: versions, seed, model revision, data hash, hardware,
  dtype, plus the recipe's own fields.
- `model_revision(spec)`: the revision a run started from.
- `save_model_dir(model, tokenizer, out, record)`: safetensors + tokenizer + `plmkit.json`,
  written through a temp directory; `plmkit.json` lands last.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plmkit.paths import RESULTS_FILE, package_version, read_json, write_json_atomic
from plmkit.training.checkpoint_dirs import fsync_dir, fsync_tree

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from plmkit.registry import ModelSpec

RECORDED_PACKAGES = (
    "plmkit",
    "torch",
    "transformers",
    "accelerate",
    "datasets",
    "tokenizers",
    "safetensors",
)


def model_revision(spec: ModelSpec) -> str | None:
    """Package version for embedded models, the snapshot commit for hub ids, the base model's
    recorded revision (or None) for a local directory."""
    if spec.source == "embedded":
        return spec.revision
    from plmkit.loading import model_dir

    path = model_dir(spec)
    if spec.source == "hub":
        return path.name if path.parent.name == "snapshots" else spec.revision
    return read_json(path / RESULTS_FILE).get("model", {}).get("revision")


def versions() -> dict[str, str]:
    """Python's and the installed versions of the packages a result depends on."""
    found = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        found[name] = package_version(name, missing="not installed")
    return found


def run_record(
    *,
    seed: int,
    spec: ModelSpec | None = None,
    data_hash: str | None = None,
    bf16: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provenance every results JSON carries, plus `extra` fields (config, metrics...)."""
    import torch

    from plmkit.hardware import cpu_info

    record: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": seed,
        "versions": versions(),
        "hardware": {
            "cpu": cpu_info().to_dict(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }
    if spec is not None:
        record["model"] = {
            "name": spec.name,
            "source": spec.source,
            "locator": spec.locator,
            "revision": model_revision(spec),
        }
    if data_hash is not None:
        record["data_hash"] = data_hash
    if bf16 is not None:
        record["dtype"] = "bf16 autocast" if bf16 else "fp32"
    record.update(extra)
    return record


def save_model_dir(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out: str | Path,
    record: dict[str, Any],
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Save the final model into `out` (safetensors + tokenizer + `plmkit.json`).

    `extra_files` (name -> text) are written alongside, e.g. calibration.jsonl.

    Files are written to a temp directory first and moved in one by one, `plmkit.json` last:
    a directory with a `plmkit.json` is a finished model. `out` may already hold checkpoints.
    Under torchrun only rank 0 writes; the other ranks return `out` untouched.
    """
    from plmkit.training.distributed import is_main_process

    out = Path(out)
    if not is_main_process():
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-model-", dir=out))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        fsync_tree(staging)
        for path in sorted(staging.iterdir()):
            target = out / path.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_json_atomic(out / RESULTS_FILE, record)
    fsync_dir(out)
    return out
