"""What this CPU can do, and the dtype / thread defaults that follow from it.

Machines here differ between sessions: Zen4 has AVX-512 with native BF16 and VNNI, Zen3
only AVX2, where bf16 autocast ran 10-20x *slower* than fp32. So bf16 is never assumed:
it is the default only when the CPU has native bf16 *and* a quick matmul measurement
agrees; the measurement is cached per CPU model and torch version.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from plmkit.paths import cache_dir, package_version, read_json, remember

FLAGS_OF_INTEREST = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
)


@dataclass
class CpuInfo:
    model: str
    cores: int
    threads: int
    torch_capability: str
    flags: dict[str, bool] = field(default_factory=dict)
    generation: str = ""
    """e.g. "Zen 5" from the CPU family / model numbers, when known."""
    signature: str = ""
    """Model name, family / model numbers and flags: what cached measurements are keyed by."""

    @property
    def native_bf16(self) -> bool:
        return self.flags.get("avx512_bf16", False) or self.flags.get("amx_bf16", False)

    @property
    def int8_dot(self) -> bool:
        return any(self.flags.get(f, False) for f in ("avx512_vnni", "avx_vnni", "amx_int8"))

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(native_bf16=self.native_bf16, int8_dot=self.int8_dot)
        return data


def _cpuinfo_text() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def _kernel_env() -> str:
    """Settings that change torch's threads or kernels: part of every cached measurement."""
    names = ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
    return ",".join(os.environ.get(name, "") for name in names)


@lru_cache(maxsize=1)
def _proc_cpuinfo() -> tuple[str, dict[str, str], frozenset[str]]:
    """(model name, vendor / family / model numbers, every flag) of the first CPU."""
    flags: frozenset[str] = frozenset()
    model = platform.processor() or platform.machine()
    ids: dict[str, str] = {}
    for line in _cpuinfo_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and not flags:
            flags = frozenset(value.split())
        elif key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() in ("vendor_id", "cpu family", "model") and key.strip() not in ids:
            ids[key.strip()] = value.strip()
    return model, ids, flags


def cpu_flags() -> frozenset[str]:
    """Every instruction-set flag /proc/cpuinfo lists (empty where there is none)."""
    return _proc_cpuinfo()[2]


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """The CPU, its flags and torch's thread count and kernels.

    Asking torch costs its import (about a second), which a llama.cpp or ONNX command does
    not otherwise need, so the answer is cached per CPU, torch version, thread setting and
    CPU affinity.
    """
    model, ids, flags = _proc_cpuinfo()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    signature = _signature(model, ids, flags)
    key = "|".join([signature, package_version("torch", "-"), _kernel_env(), str(affinity)])
    path = cache_dir() / "cpu.json"
    cached = read_json(path).get(key)
    if cached is None or "torch" in sys.modules:  # loaded anyway: ask it (a live setting)
        import torch

        live = {
            "threads": torch.get_num_threads(),
            "torch_capability": torch.backends.cpu.get_cpu_capability(),
        }
        if cached is None:  # torch's defaults, before anyone calls set_num_threads
            remember(path, key, live)
        cached = live
    return CpuInfo(
        model=model,
        cores=os.cpu_count() or 1,
        threads=cached["threads"],
        torch_capability=cached["torch_capability"],
        flags={name: name in flags for name in FLAGS_OF_INTEREST},
        generation=_generation(ids),
        signature=signature,
    )


def _signature(model: str, ids: dict[str, str], flags: frozenset[str]) -> str:
    """The CPU as cached measurements must see it. VMs name Zen 3, 4 and 5 alike ("AMD
    EPYC") and a session may move between them, so family, model and flags are part of it."""
    family = "/".join(ids.get(k, "") for k in ("vendor_id", "cpu family", "model"))
    present = ",".join(name for name in FLAGS_OF_INTEREST if name in flags)
    return f"{model}|{family}|{present}"


def _generation(ids: dict[str, str]) -> str:
    """AMD Zen generation from /proc/cpuinfo's family and model ("" when unknown).

    Virtual machines often hide the model name ("AMD EPYC"), and the generation decides
    what pays off: Zen 3 has no AVX-512, Zen 4 runs it on 256-bit units, Zen 5 on 512-bit.
    """
    if ids.get("vendor_id") != "AuthenticAMD":
        return ""
    try:
        family, model = int(ids["cpu family"]), int(ids["model"])
    except (KeyError, ValueError):
        return ""
    if family == 26:
        return "Zen 5"
    if family == 25:
        return "Zen 4" if 0x10 <= model <= 0x1F or 0x60 <= model <= 0xAF else "Zen 3"
    if family == 23:
        return "Zen 2" if model >= 0x30 else "Zen / Zen+"
    return ""


def _matmul_seconds(dtype, size: int = 512, repeats: int = 8) -> float:
    import torch

    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.matmul(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b)
    return (time.perf_counter() - start) / repeats


_SPEEDUPS: dict[tuple[str, str], float] = {}


def bf16_speedup() -> float:
    """fp32 time / bf16 time for a 512x512 matmul; > 1 means bf16 is faster here. Measured
    once per cache directory (`hardware.json`) and kept per process by that directory too: a
    process-wide memo let a process that changed PLMKIT_CACHE skip writing the new cache, and
    the next `plm` there imported torch to measure it again (`plm encode` on ONNX, native
    bf16: the cold-start test failed on a Zen 4)."""
    info = cpu_info()
    torch_version = package_version("torch", "-")
    key = f"{info.signature}|{torch_version}|{info.threads}|{_kernel_env()}"
    path = cache_dir() / "hardware.json"
    memo = (str(path), key)
    if memo in _SPEEDUPS:
        return _SPEEDUPS[memo]
    if (cached := read_json(path).get(key)) is None:
        import torch

        cached = _matmul_seconds(torch.float32) / max(_matmul_seconds(torch.bfloat16), 1e-9)
        remember(path, key, round(cached, 3))
    _SPEEDUPS[memo] = float(cached)
    return _SPEEDUPS[memo]


def use_bf16() -> bool:
    """bf16 autocast by default only where it is native and measured faster."""
    if os.environ.get("PLMKIT_DTYPE") in {"fp32", "float32"}:
        return False
    return cpu_info().native_bf16 and bf16_speedup() > 1.2


def defaults() -> dict:
    """The dtype and backend choices `plm doctor` reports."""
    info = cpu_info()
    bf16 = use_bf16()
    return {
        "train_dtype": "bf16 autocast" if bf16 else "fp32",
        "inference_dtype": "bf16" if bf16 else "fp32",
        "int8": "dynamic int8 (VNNI)" if info.int8_dot else "dynamic int8 (no VNNI: smaller gain)",
        "bf16_matmul_speedup": round(bf16_speedup(), 2),
        "threads": info.threads,
    }


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


class CpuWindow:
    """Cores kept busy by *other* processes from now until `busy_cores()`: this process's
    own CPU time over the window (all its threads) is taken off, so it may work meanwhile
    (`plm generate` loads its model inside the window instead of sleeping through one)."""

    def __init__(self) -> None:
        self.start, self.own, self.began = _cpu_jiffies(), _own_cpu_seconds(), time.perf_counter()

    def busy_cores(self, min_seconds: float = 0.0) -> float | None:
        """Other processes' busy cores; sleeps first until the window is `min_seconds` long."""
        if (wait := min_seconds - (time.perf_counter() - self.began)) > 0:
            time.sleep(wait)
        end = _cpu_jiffies()
        if self.start is None or end is None or end[1] <= self.start[1]:
            return None
        own = (_own_cpu_seconds() - self.own) * os.sysconf("SC_CLK_TCK")
        busy, total = end[0] - self.start[0] - own, end[1] - self.start[1]
        return round(max(busy, 0.0) / total * (os.cpu_count() or 1), 2)


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def busy_cores(seconds: float = 0.2) -> float | None:
    """Cores kept busy by *other* processes while this one sleeps for `seconds`.

    On a shared CPU, OpenMP's spinning waits collapse (llama.cpp with 2 threads measured at
    2 tok/s instead of 72), so `plm doctor` and `plm bench` report this.
    """
    return CpuWindow().busy_cores(seconds)


def contention_advice(busy: float | None) -> str | None:
    """A note for a CPU that others keep busy, or None."""
    if busy is None or busy < 0.5:
        return None
    if os.environ.get("OMP_WAIT_POLICY"):
        return f"other processes keep {busy:.1f} cores busy (OMP_WAIT_POLICY is set)"
    return (
        f"other processes keep {busy:.1f} cores busy: timings will vary; "
        "set OMP_WAIT_POLICY=PASSIVE so torch threads stop spinning while they wait"
    )
