"""The machine a benchmark ran on: CPU, versions, and its measured limits.

The limits are what this CPU can do at best, measured with torch in a few seconds:
- memory bandwidth: copying a 256 MiB tensor (read + write), best of 5;
- matmul throughput at fp32, bf16 and int8 (`torch._int_mm`), 2048 x 2048, best of 3.
Decoding one token reads every weight once, so tokens/s <= bandwidth / weight bytes;
an encoder does about 2 x parameters x tokens FLOPs, so texts/s <= FLOP/s / that.
"""

from __future__ import annotations

import platform
import time

from plmkit.paths import package_version

DISTRIBUTIONS = (
    "plmkit",
    "torch",
    "transformers",
    "tokenizers",
    "sentence-transformers",
    "onnxruntime",
    "ctranslate2",
    "llama_cpp_python",
)


def versions() -> dict[str, str]:
    """Python and each of `DISTRIBUTIONS`: its version or "not installed"."""
    return {
        "python": platform.python_version(),
        **{dist: package_version(dist, "not installed") for dist in DISTRIBUTIONS},
    }


def hardware() -> dict:
    from plmkit.hardware import cpu_info

    info = cpu_info().to_dict()
    flags = [name for name, present in info.pop("flags").items() if present]
    return {**info, "flags": flags}


def _best(function, repeats: int) -> float:
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def memory_bandwidth_gbs(mib: int = 256) -> float:
    import torch

    source = torch.ones(mib * 2**20 // 4)
    target = torch.empty_like(source)
    seconds = _best(lambda: target.copy_(source), 5)
    return 2 * source.numel() * 4 / seconds / 1e9


def matmul_gflops(dtype: str, size: int = 2048) -> float:
    import torch

    if dtype == "int8":
        a = torch.randint(-128, 127, (size, size), dtype=torch.int8)
        b = torch.randint(-128, 127, (size, size), dtype=torch.int8)
        seconds = _best(lambda: torch._int_mm(a, b), 3)
    else:
        kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        a, b = torch.randn(size, size).to(kind), torch.randn(size, size).to(kind)
        seconds = _best(lambda: a @ b, 3)
    return 2 * size**3 / seconds / 1e9


def onnx_matmul_gflops(size: int = 2048) -> float | None:
    """fp32 matmul through ONNX Runtime, or None where it is not installed.

    Its GEMM ran 1.5-2x torch's on Zen 5 (an ONNX MiniLM reached 305 GFLOP/s against torch's
    207 for a plain matmul), so the fp32 limit is the faster of the two.
    """
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    from plmkit.hardware import cpu_info

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in "ab"]
    output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "mm", inputs, [output]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_info().threads
    session = ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])
    feeds = {n: np.random.default_rng(0).standard_normal((size, size), np.float32) for n in "ab"}
    seconds = _best(lambda: session.run(None, feeds), 3)
    return 2 * size**3 / seconds / 1e9


def limits(quick: bool = False) -> dict[str, float]:
    size = 1024 if quick else 2048
    result = {"memory_bandwidth_gbs": memory_bandwidth_gbs(64 if quick else 256)}
    for dtype in ("fp32", "bf16", "int8"):
        try:
            result[f"matmul_{dtype}_gflops"] = matmul_gflops(dtype, size)
        except RuntimeError:  # e.g. no int8 matmul kernel on this build
            continue
    onnx_fp32 = onnx_matmul_gflops(size)
    if onnx_fp32 is not None:
        result["matmul_fp32_gflops"] = max(result.get("matmul_fp32_gflops", 0.0), onnx_fp32)
    return {k: round(v, 1) for k, v in result.items()}
