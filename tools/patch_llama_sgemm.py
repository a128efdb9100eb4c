"""Patch llama.cpp's float matmul (llamafile's tinyBLAS) for batches of a few rows.

    python tools/patch_llama_sgemm.py SOURCE_DIR

SOURCE_DIR is an unpacked llama-cpp-python sdist (`make llama-lib` builds from one). The patch
changes one file, ggml/src/ggml-cpu/llamafile/sgemm.cpp, on CPUs with 32 vector registers
(AVX-512):

- For at most 8 rows of activations (n <= 8: a batch of up to 8 sequences decoding a token
  each), tinyBLAS took tiles of 4 weight rows x 4 activation rows, handed out 16 weight rows
  at a time. Its loop stalled on the weight loads: smollm2's bf16 weights (k = 576, 18 cache
  lines a row) streamed at about 11 GB/s on one Zen 4 thread, where the one-row kernel
  (ggml_vec_dot_bf16) reads 19-27 GB/s, so 8 sequences took 2.3-2.5x one sequence's step.
  The patch takes one weight row against up to 8 activation rows (each weight vector loaded
  once and used 8 times), hands out 32 rows at a time, and prefetches the next weight row's
  line as it goes. Tried and slower: 2 weight rows x 8 with the rows two tiles ahead
  prefetched (22.1-22.2 ms a step against 19.2-19.6), the 4 x 4 tiles with a prefetch (no
  gain), and llamafile off altogether (ggml's own one-by-one dot products: no gain).
- Every product keeps the same arithmetic: each output is the same sum, in the same order,
  of the same fused multiply-adds, reduced the same way, so the patched build's batched
  results are bit for bit the stock build's.

Measured on a 2-core AMD EPYC Zen 4 (llama-cpp-python 0.3.36, smollm2 as bf16, 8 sequences,
2 threads): see the README's llama.cpp paragraph. Exit status 0 when patched (or already
patched), 1 when the source does not have the expected text (another llama.cpp version): the
Makefile then builds it unpatched and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

SGEMM = Path("vendor/llama.cpp/ggml/src/ggml-cpu/llamafile/sgemm.cpp")
PACKAGE_INIT = Path("llama_cpp/__init__.py")
MARKER = "plmkit: few activation rows"
PATCH_NAME = "sgemm-few-rows"
"""Recorded in the built package (`__plmkit_patch__`), where `bench.machine.versions` reads it."""

TILE_CHOICE = (
    """#if VECTOR_REGISTERS == 32
        if (m % 16 == 0 && (m/16 >= params->nth)) {
            const int64_t SIZE_N = BLOCK_SIZE<6>(n);""",
    """#if VECTOR_REGISTERS == 32
        if (n <= 8 && m % 32 == 0) {  // plmkit: few activation rows (a decode step's batch)
            const int64_t SIZE_N = BLOCK_SIZE<8>(n);
            mnpack<1, 8, 32>(m, n, SIZE_N, 12);
            return true;
        }
        if (m % 16 == 0 && (m/16 >= params->nth)) {
            const int64_t SIZE_N = BLOCK_SIZE<6>(n);""",
)
PREFETCH = (
    """                for (int64_t i = 0; i < RM; ++i) {
                    Av[i] = load<V>(A + lda * (ii + i) + l);
                }""",
    """                for (int64_t i = 0; i < RM; ++i) {
                    Av[i] = load<V>(A + lda * (ii + i) + l);
                }
#if defined(__x86_64__)
                if constexpr (RM == 1) {  // plmkit: the next weight row's line
                    _mm_prefetch((const char *)(A + lda * (ii + 1) + l), _MM_HINT_T0);
                }
#endif""",
)


def patch_text(text: str) -> str:
    """sgemm.cpp's text with both changes; ValueError where a change's anchor is not found
    exactly once. Already patched text comes back unchanged."""
    if MARKER in text:
        return text
    for old, new in (TILE_CHOICE, PREFETCH):
        if text.count(old) != 1:
            raise ValueError(f"expected text found {text.count(old)} times: {old.splitlines()[1]}")
        text = text.replace(old, new)
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    path, init = Path(argv[0]) / SGEMM, Path(argv[0]) / PACKAGE_INIT
    try:
        text, init_text = path.read_text(encoding="utf-8"), init.read_text(encoding="utf-8")
        path.write_text(patch_text(text), encoding="utf-8")
        if "__plmkit_patch__" not in init_text:
            init.write_text(f'{init_text.rstrip()}\n__plmkit_patch__ = "{PATCH_NAME}"\n')
    except (OSError, ValueError) as error:
        print(f"not patched ({path}): {error}", file=sys.stderr)
        return 1
    print(f"patched {path} (tinyBLAS tiles for up to 8 activation rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
