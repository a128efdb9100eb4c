"""Where plmkit keeps its own files (converted models, tokenized corpora, data)."""

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
    """Set one entry of a JSON key -> value cache file (the measurement caches)."""
    data = read_json(path)
    data[key] = value
    write_json_atomic(path, data)
