"""The machine a benchmark ran on: CPU, versions, and its measured limits.

The limits are what this CPU can do at best with the kernels the engines run, measured in
a few seconds:
- memory bandwidth: reading 256 MiB (the fastest of a sum, a max and a dot product over a
  tensor in transparent huge pages, `READS`), best of 5, as a decoder reads its weights each
  token (from huge pages where plmkit's llama.cpp build puts them: tools/patch_llama.py).
  It was a copy of 256 MiB counted as read + write
  before: on a 2-core Zen 4 the copy and the read agreed in 4 KiB pages (31-36 GB/s in the
  same minute), and the read in huge pages ran 34-37 then, 66-68 in a faster spell of the
  host where it was 53 in 4 KiB pages;
- matmul throughput, 2048 x 2048, best of 3 (or fewer where one call takes over 2 s):
  fp32 through an nn.Linear (`F.linear`) and through ONNX Runtime's MatMul (also on an
  encoder's feed-forward shapes, ENCODER_SHAPES), the fastest;
  bf16 through `F.linear` on bf16 weights (what torch-bf16 runs; a bf16 `a @ b` of square
  tensors took a kernel 9x slower than Linear's on an AVX2 CPU); int8 through torch's
  dynamic int8 Linear and ONNX Runtime's dynamically quantised MatMul (the torch-int8 and
  onnx-int8 kernels), the faster. The int8 limit was `torch._int_mm` before, a kernel no
  engine uses: 1.3 GFLOP/s on a Zen 3 where ONNX int8 ran MiniLM at 90x that ("of limit"
  8,980%).
Decoding one token reads every weight once, so tokens/s <= bandwidth / weight bytes;
an encoder does about 2 x parameters x tokens FLOPs, so texts/s <= FLOP/s / that.
"""

from __future__ import annotations

import logging
import mmap
import platform
import time
from contextlib import suppress
from functools import lru_cache, partial

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
    """Python and each of `DISTRIBUTIONS`: its version or "not installed" (llama-cpp-python's
    with "+" and plmkit's patches where `make llama-lib` built it with them)."""
    from plmkit.backends.registry import engine_version

    return {
        "python": platform.python_version(),
        **{dist: engine_version(dist, "not installed") for dist in DISTRIBUTIONS},
    }


def hardware() -> dict:
    from plmkit.hardware import cpu_info

    info = cpu_info().to_dict()
    flags = [name for name, present in info.pop("flags").items() if present]
    return {**info, "flags": flags}


def _best(function, repeats: int, budget: float = 2.0) -> float:
    """Best time of `repeats` calls after a warm-up; calls over `budget` seconds stop early."""
    start = time.perf_counter()
    function()
    best = time.perf_counter() - start
    for _ in range(repeats):
        if best > budget:
            break
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@lru_cache(maxsize=1)
def _huge_page_ones(mib: int):
    """(memory, a float32 tensor of ones over it): `mib` MiB advised as transparent huge pages
    where the OS has them, made once per process (clearing the pages is most of the cost)."""
    import torch

    memory = mmap.mmap(-1, mib * 2**20)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        with suppress(OSError):  # THP off in this kernel: 4 KiB pages
            memory.madvise(mmap.MADV_HUGEPAGE)
    tensor = torch.frombuffer(memory, dtype=torch.float32)
    tensor.fill_(1.0)
    return memory, tensor


READS = ("sum", "amax", "dot")
"""The read kernels timed over the buffer; the fastest sets the limit. With a sum alone, one
bf16 llama.cpp stream read its weights at 36.9 GB/s in a run whose samples of the sum were
26.5-33.6 in its slow spells (112% of the start's sample); by hand in one minute the sum read
31.0 GB/s (median of 6) and 44.9 at best, amax 33.7 and 50.1, a dot product 33.5 and 48.2."""


def memory_bandwidth_gbs(mib: int = 256) -> float:
    """GB/s read: the fastest of READS over `mib` MiB in huge pages, each best of 5 (module
    docstring)."""
    import torch

    _, tensor = _huge_page_ones(mib)
    kernels = {"sum": tensor.sum, "amax": tensor.amax, "dot": lambda: torch.dot(tensor, tensor)}
    seconds = min(_best(kernels[name], 5) for name in READS)
    return mib * 2**20 / seconds / 1e9


def matmul_gflops(dtype: str, size: int = 2048) -> float:
    """An nn.Linear's matmul (size tokens x size -> size) at fp32, bf16 or int8 (torch's
    dynamic int8 Linear, as torch-int8 quantises it)."""
    import torch

    x = torch.randn(size, size)
    if dtype == "int8":
        from plmkit.backends.torch_backend import quantize_int8

        layer = quantize_int8(torch.nn.Sequential(torch.nn.Linear(size, size, bias=False)))
    else:
        kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        layer = torch.nn.Linear(size, size, bias=False).to(kind)
        x = x.to(kind)
    with torch.inference_mode():
        seconds = _best(lambda: layer(x), 3)
    return 2 * size**3 / seconds / 1e9


ENCODER_SHAPES = ((256, 384, 1536), (256, 1536, 384))
"""(rows, in, out) of an encoder's feed-forward matmuls, which ONNX Runtime is also timed on:
MiniLM's widths, 8 texts of 32 tokens. Its fp32 GEMM ran them at 166-200 GFLOP/s on a Zen 4
where the 2048-square product (16 MiB operands, past the caches) ran at 131-143; with only
that one, onnx-fp32 MiniLM encoded at 100.3% of the fp32 limit."""
MIN_FLOP_PER_CALL = 1e9
"""A timed call repeats a small product until it does this much work."""


def _onnx_matmul_session(shape: tuple[int, int, int], int8: bool):
    """An ONNX Runtime session of x @ W (x rows x in, W a constant in x out), dynamically
    quantised to int8 as onnx-int8 runs its matmuls (one activation scale per tensor) when
    `int8`."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from plmkit.hardware import cpu_info

    rows, inputs, outputs = shape
    weight = np.random.default_rng(1).standard_normal((inputs, outputs), np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, outputs])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_info().threads
    options.log_severity_level = 3
    if not int8:
        return ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        plain, quantised = Path(tmp) / "mm.onnx", Path(tmp) / "mm-int8.onnx"
        onnx.save(model, plain)
        logging.disable(logging.WARNING)  # its "consider pre-processing" advice
        try:
            quantize_dynamic(
                str(plain), str(quantised), weight_type=QuantType.QInt8, per_channel=True
            )
        finally:
            logging.disable(logging.NOTSET)
        return ort.InferenceSession(str(quantised), options, ["CPUExecutionProvider"])


def _repeat(session, feeds: dict, repeats: int) -> None:
    for _ in range(repeats):
        session.run(None, feeds)


def onnx_matmul_gflops(size: int = 2048, int8: bool = False) -> float | None:
    """x @ W through ONNX Runtime (fp32, or int8 as onnx-int8 runs it), the fastest of a
    size-square product and ENCODER_SHAPES; None where it is not installed. Its fp32 GEMM
    ran 1.5-2x torch's on Zen 5 (an ONNX MiniLM reached 305 GFLOP/s against torch's 207 for
    a plain matmul)."""
    import numpy as np

    best = 0.0
    for shape in ((size, size, size), *ENCODER_SHAPES):
        try:
            session = _onnx_matmul_session(shape, int8)
        except ImportError:
            return None
        rows, inputs, outputs = shape
        flop = 2 * rows * inputs * outputs
        repeats = max(1, round(MIN_FLOP_PER_CALL / flop))
        feeds = {"x": np.random.default_rng(0).standard_normal((rows, inputs), np.float32)}
        run = partial(_repeat, session, feeds, repeats)
        best = max(best, flop * repeats / _best(run, 3) / 1e9)
    return best


def limits(quick: bool = False) -> dict[str, float]:
    """The machine's limits: each dtype's matmul rate is the fastest of its engines' kernels."""
    size = 1024 if quick else 2048
    result = {"memory_bandwidth_gbs": memory_bandwidth_gbs()}  # 256 MiB: 8x the L3 here
    for dtype in ("fp32", "bf16", "int8"):
        try:
            result[f"matmul_{dtype}_gflops"] = matmul_gflops(dtype, size)
        except RuntimeError:  # e.g. no int8 kernel on this build
            continue
    for dtype in ("fp32", "int8"):
        onnx = onnx_matmul_gflops(size, int8=dtype == "int8")
        if onnx is not None:
            name = f"matmul_{dtype}_gflops"
            result[name] = max(result.get(name, 0.0), onnx)
    return {k: round(v, 1) for k, v in result.items()}
