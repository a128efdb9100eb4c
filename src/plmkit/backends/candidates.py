"""Which installed engines `auto` tries on this CPU (and the bench times), and why not the rest.

Engines that are not installed are left out with the install hint; so are those that detection
already rules out here: torch-bf16 without native bf16 (0.13x fp32 on a Zen 3), and one of the
two 16-bit llama.cpp copies.
"""

from __future__ import annotations

from plmkit.backends import registry
from plmkit.registry import Kind


def not_for_this_cpu(name: str) -> str | None:
    """Why `name` is not worth trying on this CPU, or None. One 16-bit llama.cpp copy is
    tried, by native bf16: F16 has a tiled F16C GEMM for batches on AVX2 (eight prompts 239
    vs BF16's 213 tok/s, one stream 72 vs 71, quiet Zen 3) and three more mantissa bits;
    BF16 has native kernels where the CPU has them (eight prompts 429 tok/s, Zen 5)."""
    from plmkit.hardware import use_bf16

    native = use_bf16()
    if name == "torch-bf16" and not native:
        return "this CPU has no fast native bf16"
    if name == "llama-cpp-bf16" and not native:
        return "no native bf16 here: llama-cpp-f16 is the 16-bit copy tried"
    if name == "llama-cpp-f16" and native:
        return "native bf16 here: llama-cpp-bf16 is the 16-bit copy tried"
    return None


def candidates(kind: Kind) -> tuple[list[str], list[str]]:
    """(installed backends worth trying here, notes about the ones left out)."""
    chosen, notes = [], []
    for name in registry.names(kind):
        why = registry.missing(name) or not_for_this_cpu(name)
        if why:
            notes.append(f"{name} skipped: {why}")
        else:
            chosen.append(name)
    return chosen, notes
