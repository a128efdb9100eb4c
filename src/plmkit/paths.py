"""Where plmkit keeps its own files (converted models, tokenized corpora, data)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$PLMKIT_CACHE`, else `~/.cache/plmkit`. Created on first use."""
    root = Path(os.environ.get("PLMKIT_CACHE") or Path.home() / ".cache" / "plmkit")
    root.mkdir(parents=True, exist_ok=True)
    return root


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache that hub ids are looked up in (offline)."""
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)
