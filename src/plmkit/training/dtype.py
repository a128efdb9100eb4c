"""`decide_bf16(requested)`: train with bf16 autocast or in fp32, and the reason to report.

Auto (None) follows `hardware.use_bf16()`: bf16 only where the CPU has it natively and it
measured faster than fp32; asking explicitly always wins, with a warning in the reason when it
will be slower.
"""

from __future__ import annotations


def decide_bf16(requested: bool | None = None) -> tuple[bool, str]:
    """(use bf16 autocast?, reason). None = auto: only where native and measured faster."""
    from plmkit.hardware import bf16_speedup, cpu_info, use_bf16

    info = cpu_info()
    if requested is False:
        return False, "fp32 (asked for)"
    if requested is True:
        if not info.native_bf16:
            return True, "bf16 autocast (asked for; this CPU has no native bf16: expect it slower)"
        return True, "bf16 autocast (asked for)"
    if use_bf16():
        return True, f"bf16 autocast (native bf16, matmul {bf16_speedup():.1f}x faster than fp32)"
    if not info.native_bf16:
        return False, "fp32 (no native bf16 on this CPU: bf16 autocast would be slower)"
    return False, f"fp32 (bf16 matmul measured only {bf16_speedup():.2f}x fp32 here)"
