"""Backend names -> what they run on, what they need installed, and how to install it.

Plain data, like `plmkit.registry` for models. Whether an optional engine is installed is
answered with `importlib.util.find_spec`, which does not import it (keeps start-up fast).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from plmkit.errors import BackendUnavailableError
from plmkit.registry import Kind

FAST_EXTRA = "pip install 'plmkit[fast]'"
LLAMA_EXTRA = "make fast-llama  (builds llama-cpp-python from source, about 3 minutes)"


@dataclass(frozen=True)
class BackendSpec:
    name: str
    kinds: tuple[Kind, ...]
    description: str
    requires: tuple[str, ...] = ()
    """Python modules that must be importable."""
    install: str = ""
    """How to get the `requires` modules."""


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("torch-fp32", ("encoder", "decoder"), "PyTorch fp32, the reference"),
        BackendSpec(
            "torch-bf16",
            ("encoder", "decoder"),
            "PyTorch with bf16 weights (fast only with native bf16: AVX-512 BF16 / AMX)",
        ),
        BackendSpec("torch-int8", ("encoder",), "PyTorch dynamic int8 on Linear layers"),
        BackendSpec("onnx-fp32", ("encoder",), "ONNX Runtime, fp32", ("onnxruntime",), FAST_EXTRA),
        BackendSpec(
            "onnx-int8",
            ("encoder",),
            "ONNX Runtime, int8 in fused kernels (one activation scale per tensor), the "
            "classifier head and outlier channels in fp32",
            ("onnxruntime", "onnx"),
            FAST_EXTRA,
        ),
        BackendSpec(
            "onnx-int8-partial",
            ("encoder",),
            "ONNX Runtime, int8 with one activation scale per token, the classifier head "
            "and outlier channels in fp32 (closer to fp32 than onnx-int8)",
            ("onnxruntime", "onnx"),
            FAST_EXTRA,
        ),
        BackendSpec(
            "ct2-int8", ("decoder",), "CTranslate2 int8 (batched)", ("ctranslate2",), FAST_EXTRA
        ),
        BackendSpec(
            "llama-cpp",
            ("decoder",),
            "llama.cpp on the model's GGUF (smollm2: Q4_1)",
            ("llama_cpp",),
            LLAMA_EXTRA,
        ),
        BackendSpec(
            "llama-cpp-q8",
            ("decoder",),
            "llama.cpp on the model's GGUF rewritten as Q8_0 once",
            ("llama_cpp",),
            LLAMA_EXTRA,
        ),
        BackendSpec(
            "llama-cpp-bf16",
            ("decoder",),
            "llama.cpp on the model's GGUF rewritten as BF16 once (fastest for batches with "
            "native bf16)",
            ("llama_cpp",),
            LLAMA_EXTRA,
        ),
        BackendSpec(
            "llama-cpp-f16",
            ("decoder",),
            "llama.cpp on the model's GGUF rewritten as F16 once (the 16-bit type for "
            "batches without native bf16)",
            ("llama_cpp",),
            LLAMA_EXTRA,
        ),
    )
}

ALIASES: dict[Kind, dict[str, str]] = {
    "encoder": {"torch": "torch-fp32", "fp32": "torch-fp32", "bf16": "torch-bf16",
                "int8": "torch-int8", "onnx": "onnx-int8"},
    "decoder": {"torch": "torch-fp32", "fp32": "torch-fp32", "bf16": "torch-bf16",
                "int8": "ct2-int8", "ct2": "ct2-int8", "llama": "llama-cpp",
                "llama.cpp": "llama-cpp"},
}  # fmt: skip


def _module_missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def missing(name: str) -> str | None:
    """None when `name` can run here, else why not and how to fix it."""
    spec = BACKENDS[name]
    absent = [m for m in spec.requires if _module_missing(m)]
    if absent:
        return f"{', '.join(absent)} not installed ({spec.install})"
    if "llama_cpp" in spec.requires and (unsupported := llama_build_unsupported()):
        return (
            f"llama-cpp-python was built for another CPU (it uses {', '.join(unsupported)}, "
            "which this one lacks): rebuild it with `make fast-llama LLAMA_REBUILD=1`"
        )
    return None


# llama.cpp's system-info names -> /proc/cpuinfo flags: what a GGML_NATIVE build needs.
_LLAMA_FEATURES = {
    "AVX2": "avx2",
    "FMA": "fma",
    "F16C": "f16c",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AVX_VNNI": "avx_vnni",
    "AMX_INT8": "amx_int8",
}


def unsupported_features(system_info: str | None, flags: set[str], code: int = 0) -> list[str]:
    """From llama.cpp's system info ("CPU : AVX2 = 1 | AVX512 = 1 | ...", None when the
    probe crashed) and this CPU's flags: the build's features this CPU lacks."""
    if system_info is None:
        return [f"a crash on import (exit {code})"]
    built = {
        part.split("=")[0].strip().removeprefix("CPU :").strip()
        for part in system_info.split("|")
        if part.split("=")[-1].strip() == "1"
    }
    return [f for f, flag in _LLAMA_FEATURES.items() if f in built and flags and flag not in flags]


@lru_cache(maxsize=1)
def llama_build_unsupported() -> tuple[str, ...]:
    """Instruction sets the installed llama.cpp was compiled for that this CPU lacks.

    `make setup` builds llama.cpp for the CPU it runs on (GGML_NATIVE), and this project's
    sessions move between CPUs (Zen 5 with AVX-512, Zen 3 without): such a build dies with
    SIGILL on the first token. The build's features are read in a child process (so a crash
    cannot take this one down) and cached per CPU and llama-cpp-python version (on disk, and
    once per process: `missing()` asks for each of the three llama.cpp backends).
    """
    import subprocess
    import sys

    from plmkit.hardware import cpu_flags, cpu_info
    from plmkit.paths import cache_dir, package_version, read_json, remember

    version = package_version("llama_cpp_python", "-")
    key = f"{cpu_info().signature}|{version}"
    path = cache_dir() / "llama_build.json"
    cached = read_json(path)
    if key not in cached:
        probe = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
        run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        info = run.stdout if run.returncode == 0 else None
        cached[key] = unsupported_features(info, set(cpu_flags()), run.returncode)
        remember(path, key, cached[key])
    return tuple(cached[key])


def llama_cpp_patch() -> str | None:
    """The names of plmkit's patches the installed llama-cpp-python was built with (`make
    llama-lib`, tools/patch_llama.py), joined by "+" ("sgemm-few-rows+gemv-bf16+huge-pages"),
    or None: read from the package's files, without loading llama.cpp."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
        text = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except (ImportError, ValueError, OSError):
        return None
    patch = re.search(r'^__plmkit_patch__ = "([\w.+-]+)"', text, re.MULTILINE)
    return patch.group(1) if patch else None


def llama_cpp_patches() -> frozenset[str]:
    """Each of plmkit's patches in the installed llama.cpp (`llama_cpp_patch`), by name."""
    patch = llama_cpp_patch()
    return frozenset(patch.split("+")) if patch else frozenset()


def engine_version(distribution: str, missing: str = "-") -> str:
    """An engine's installed version (`missing` when it is not installed); llama-cpp-python's
    with "+" and the name of plmkit's patch where it was built patched (`llama_cpp_patch`):
    what the bench and `plm doctor` report and `auto`'s choices are keyed by."""
    from plmkit.paths import package_version

    version = package_version(distribution)
    if version is None:
        return missing
    is_llama = distribution.replace("-", "_") == "llama_cpp_python"
    patch = llama_cpp_patch() if is_llama else None
    return f"{version}+{patch}" if patch else version


def names(kind: Kind) -> list[str]:
    """The backends that run models of `kind`, in BACKENDS' order."""
    return [n for n, spec in BACKENDS.items() if kind in spec.kinds]


def choices(kind: Kind) -> tuple[str, ...]:
    """What `--backend` accepts for `kind` (aliases aside): auto, then every backend."""
    return ("auto", *names(kind))


ENCODER_BACKENDS = choices("encoder")
"""auto, torch-fp32, torch-bf16, torch-int8, onnx-fp32, onnx-int8, onnx-int8-partial: for
encode and classify."""
DECODER_BACKENDS = choices("decoder")
"""auto, torch-fp32, torch-bf16, ct2-int8, llama-cpp, llama-cpp-q8, llama-cpp-bf16,
llama-cpp-f16."""


def installed(kind: Kind) -> list[str]:
    return [n for n in names(kind) if missing(n) is None]


def canonical(name: str, kind: Kind) -> str:
    """'bf16' -> 'torch-bf16'...; unknown names and wrong-kind names raise with the list."""
    name = ALIASES[kind].get(name.strip().lower(), name.strip().lower())
    if name == "auto" or name in names(kind):
        return name
    raise BackendUnavailableError(
        f"unknown {kind} backend '{name}'",
        f"use auto or one of: {', '.join(names(kind))} (installed here: "
        f"{', '.join(installed(kind))})",
    )


def require_installed(name: str, kind: Kind) -> str:
    """The canonical name of an explicitly requested backend, or a clear error."""
    name = canonical(name, kind)
    if name != "auto" and (why := missing(name)):
        raise BackendUnavailableError(
            f"backend '{name}' is not available: {why}",
            f"install it, or use --backend auto (installed: {', '.join(installed(kind))})",
        )
    return name
