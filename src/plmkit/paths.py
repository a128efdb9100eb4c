"""Where plmkit keeps its own files (converted models, tokenized corpora, data), and the
small file and environment facts several layers need: one copy each."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """`$PLMKIT_CACHE`, else `~/.cache/plmkit`. Created on first use."""
    root = Path(os.environ.get("PLMKIT_CACHE") or Path.home() / ".cache" / "plmkit")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_subdir(name: str) -> Path:
    """`cache_dir() / name`, created on first use (corpora, data, converted, ...)."""
    path = cache_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


_TRUE = {"1", "on", "yes", "true"}
_FALSE = {"0", "off", "no", "false"}


def hub_offline() -> bool:
    """Whether the hub may be contacted. plmkit is offline unless the user opts in with
    HF_HUB_OFFLINE=0 (also for Python API users who never set it: the README promises that
    nothing is downloaded). Read at call time; HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE=1
    count as offline too."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    if value in _TRUE:
        return True
    if any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    ):
        return True
    return value not in _FALSE


def package_version(distribution: str, missing: str | None = None) -> str | None:
    """The installed version of `distribution`, or `missing` when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return missing


def weights_stamp(directory: str | Path) -> int:
    """Newest modification time (ns) of the safetensors files in `directory`, 0 if none:
    the part of a cache key that changes when a model directory is rewritten."""
    files = Path(directory).glob("*.safetensors")
    return max((f.stat().st_mtime_ns for f in files), default=0)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache that hub ids are looked up in (offline)."""
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)


def read_json(path: str | Path) -> Any:
    """A JSON file's content, or {} when it is missing or unreadable (a cache to rebuild)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON through a temp file + rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, default=str, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remember(path: str | Path, key: str, value: Any) -> None:
    """Set one entry of a JSON key -> value cache file (the measurement caches). Under
    torchrun only rank 0 writes (the other ranks keep what they measured in memory), as for
    every other file a multi-process run makes."""
    if os.environ.get("RANK", "0") not in ("", "0"):
        return
    data = read_json(path)
    data[key] = value
    write_json_atomic(path, data)


RESULTS_FILE = "plmkit.json"
"""The provenance / results record in a model directory plmkit wrote (finetune, pretrain)."""
