"""Patch llama-cpp-python's llama.cpp: a decode step's matmuls and attention, huge pages.

    python tools/patch_llama.py SOURCE_DIR

SOURCE_DIR is an unpacked llama-cpp-python sdist (`make llama-lib` builds from one). Each patch
is applied on its own; the package records the ones applied (`__plmkit_patch__`, for example
"sgemm-few-rows+huge-pages"), where `plmkit.backends.registry.llama_cpp_patches` reads them.

sgemm-few-rows (ggml/src/ggml-cpu/llamafile/sgemm.cpp, CPUs with 32 vector registers: AVX-512):
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
  results are bit for bit the stock build's. With gemv-bf16 (below) in, bf16 weights take
  that kernel instead; f16 and f32 weights still take this one.

gemv-bf16 (the same file, CPUs with AVX-512 BF16):
- One to 8 rows of activations (a decode step of up to 8 sequences) against bf16 weights.
  Stock ggml converted the rows to bf16 on all threads and met at a barrier; then one row
  went to ggml_vec_dot_bf16 in chunks of 64 weight rows handed out through a shared counter,
  and 2-8 rows to tinyBLAS (with the few-row tiles above), which meets at two more barriers.
  The patch takes the rows before all that: each thread converts them itself (ggml's
  rounding), runs down one contiguous share of the weight rows and returns, so the graph's
  barrier after the node is the only one. Each output is tinyBLAS's sum for it (one
  accumulator, the same dpbf16 order and horizontal sum): batched logits stay bit for bit
  the stock build's (smollm2, 8 prompts x 12 steps, 96 rows of 49,152), and a sequence
  alone now gets bit for bit what it gets in a batch (3 prompts x 12 steps), where the
  stock one-row kernel's logits were 1.9e-4 off at the first step and up to 0.18 six steps
  on. At most 16,384 activation values (the rows' copy sits on the stack: 32 KiB); more
  take the stock path.
- Measured on a 2-core Zen 4. One row (stock and patched kernels switched round by round in
  one process, 102 rounds of 48 tokens each, a 256 MiB read in huge pages timed around
  each): where the host read 50+ GB/s the stream read at 0.73 of that (median) against 0.53
  stock, up to 44.4 GB/s against 31.5; in the slower spells 0.87 against 0.83. A prefetch
  16 or 32 lines ahead, and two accumulators with it, gave no more. Eight rows (builds
  alternated three times, best of 6 steps of 32): 14.5-15.0 ms a step against 15.8-17.7
  with the one-row kernel alone.

rows-prefetch (the same file, with gemv-bf16):
- In gemv-bf16's kernel for 2-8 rows, each weight line is fetched 32 lines (2 KiB) ahead.
  With 8 rows a line takes ~10 cycles of dot products, so the hardware prefetcher, which
  starts again at each of a step's 210 small matrices, left the loop waiting on memory (the
  instruction after the weight load held 17% of a batch's samples under perf). One row
  takes ~2 cycles a line and keeps the stock loop (session 19: a prefetch gave it nothing).
- Measured on a 2-core Zen 4 (smollm2 bf16, the bench's 8 chat prompts, 128 tokens; one
  process switching the distance between batches, 6 batches each, median of each batch's
  median 8-row step): none 16.2-16.8 ms, 16 lines 14.3-15.0, 24 lines 14.1, 32 lines 14.0,
  64 lines 14.8. Weight rows two at a time (8 activation rows each) were slower: 22.9 ms.
  The arithmetic is untouched: the same tokens.

huge-pages (ggml/src/ggml.c, Linux):
- ggml_aligned_malloc, which allocates the CPU backend's buffers (the weights when the model
  is read with use_mmap off, the KV cache, the compute buffers), aligns buffers of 2 MiB or
  more to 2 MiB and advises them as transparent huge pages (madvise(MADV_HUGEPAGE), which
  the kernel's default THP mode, "madvise", asks for). Decoding one token reads every weight
  once: smollm2 as bf16 is 269 MB, 66,000 pages of 4 KiB, far more than the TLB holds, so
  every 4 KiB of weights cost a page walk. The weights in 2 MiB pages take 135 entries.
- Measured on a 2-core AMD EPYC Zen 4 (one bf16 stream, 64 tokens, best of 6, the same
  build loading the file mapped or into huge pages, three times each): 8.84-9.09 ms a token
  against 10.14-10.64 mapped in 4 KiB pages; 8 sequences 16.9-17.9 ms a step against
  18.7-19.5. A read-only sum over 256 MiB ran at 53 GB/s in 4 KiB pages and 67 in huge
  pages in the same minute. The cost is at load: the weights are read into memory the kernel
  must clear first (0.15-0.8 s for smollm2 as bf16 against 0.11-0.23 mapped), and plmkit
  reads them into memory (use_mmap off) only where this patch is in (llama_cpp_backend).
  The arithmetic is untouched.
- A hint, not a requirement: where the kernel has THP off, or no huge page is free, the
  buffers are the usual 4 KiB pages. A block glibc hands back from memory freed before (after
  an in-process GGUF rewrite, the weights' block came from the heap, touched in 4 KiB pages:
  no huge page at all) is dropped first (MADV_DONTNEED: a new block's contents are
  undefined anyway), so its first write takes huge pages too.

fa-rows (ggml/src/ggml-cpu/ops.cpp, CPUs with AVX-512 F and DQ):
- One query row of flash attention against f16 K and V (the row of a decoding token: a
  stream's every step, 8 sequences' 72 rows a layer), in blocks of up to 64 cells: the
  block's scores as f32 dot products with the f32 query, one maximum, the exponentials 16
  at a time (ggml_v_expf, as ggml's softmax), the V rows summed in f32 registers. Stock ggml
  went a cell at a time: a call for the dot product (the query rounded to f16), a libm
  expf, and the running V sum rounded to f16 at every cell. Where K or V are not f16, or a
  head is not 64 or 128 wide, or there is a logit softcap, the stock loop runs.
- Measured on a 2-core Zen 4 (smollm2 bf16; one process switching the kernel between
  batches, 10 batches each): 8 sequences 16.2 ms a step against 18.2 (faster in 10 of 10),
  one stream 153 tok/s against 147 (medians). It changes the sums' rounding (f32 where
  stock had f16): of the bench's 8 prompts x 128 greedy tokens, 5 came out the same and 3
  parted at tokens 43-88 (near ties); the single stream's 128 tokens were the same.

Exit status 0 when every patch is in (applied now or before), 1 when a source lacks the
expected text for one (another llama.cpp version): the others are still applied, and the
Makefile builds it and says so.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE_INIT = Path("llama_cpp/__init__.py")


@dataclass(frozen=True)
class Patch:
    name: str
    """Recorded in the built package (`__plmkit_patch__`), where the bench's versions read it."""
    path: Path
    marker: str
    """Text that only the patched file has: its presence means the patch is in."""
    changes: tuple[tuple[str, str], ...]
    """(old, new): each old text must appear exactly once."""


SGEMM_FEW_ROWS = Patch(
    name="sgemm-few-rows",
    path=Path("vendor/llama.cpp/ggml/src/ggml-cpu/llamafile/sgemm.cpp"),
    marker="plmkit: few activation rows",
    changes=(
        (
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
        ),
        (
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
        ),
    ),
)

SGEMM_ENTRY = (
    "bool llamafile_sgemm(const struct ggml_compute_params * params, "
    "int64_t m, int64_t n, int64_t k,\n"
)
GEMV_BF16 = Patch(
    name="gemv-bf16",
    path=Path("vendor/llama.cpp/ggml/src/ggml-cpu/llamafile/sgemm.cpp"),
    marker="plmkit: up to 8 activation rows",
    changes=(
        (
            """    // only enable sgemm for prompt processing
#if !defined(__MMA__)
    if (n < 2)
        return false;
#endif
""",
            """#if defined(__AVX512BF16__)  // plmkit: up to 8 activation rows against bf16 weights
    if (n <= 8 && Atype == GGML_TYPE_BF16 && Btype == GGML_TYPE_F32 && Ctype == GGML_TYPE_F32 &&
        plmkit_rows_bf16(params, m, n, k, (const ggml_bf16_t *)A, lda, (const float *)B, ldb,
                         (float *)C, ldc))
        return true;
#endif

    // only enable sgemm for prompt processing
#if !defined(__MMA__)
    if (n < 2)
        return false;
#endif
""",
        ),
        (
            SGEMM_ENTRY,
            """#if defined(__AVX512BF16__)
// plmkit: 1 to 8 activation rows (a decode step of up to 8 sequences) against bf16 weights,
// taken before ggml converts the rows to bf16 and meets at a barrier (and tinyBLAS at two
// more). Each thread converts the rows itself (ggml's rounding), takes one contiguous run of
// weight rows (one stream, no shared chunk counter) and returns: the graph's barrier after
// the node is the only one. Each output is tinyBLAS's sum for it (one accumulator, the same
// dpbf16 order, the same horizontal sum), so the logits are the batched path's bit for bit,
// and a sequence alone gets what it gets in a batch.
template <int N>
static void plmkit_rows(int64_t i, int64_t end, int64_t k, const ggml_bf16_t * A, int64_t lda,
                        const ggml_bf16_t * b, float * C, int64_t ldc) {
    for (; i < end; ++i) {
        const ggml_bf16_t * a = A + lda * i;
        __m512 c[N];
        for (int j = 0; j < N; ++j)
            c[j] = _mm512_setzero_ps();
        for (int64_t l = 0; l < k; l += 32) {
            const __m512bh av = (__m512bh)_mm512_loadu_si512(a + l);
            for (int j = 0; j < N; ++j)
                c[j] = _mm512_dpbf16_ps(c[j], av, (__m512bh)_mm512_loadu_si512(b + j * k + l));
        }
        for (int j = 0; j < N; ++j)
            C[ldc * j + i] = _mm512_reduce_add_ps(c[j]);
    }
}

static bool plmkit_rows_bf16(const ggml_compute_params * params, int64_t m, int64_t n, int64_t k,
                             const ggml_bf16_t * A, int64_t lda, const float * B, int64_t ldb,
                             float * C, int64_t ldc) {
    constexpr int64_t MAX_ELEMENTS = 16384;  // the rows' bf16 copy, on the stack: 32 KiB
    if (n < 1 || k % 32 != 0 || n * k > MAX_ELEMENTS)
        return false;
    alignas(64) ggml_bf16_t b[MAX_ELEMENTS];
    for (int64_t j = 0; j < n; ++j)
        for (int64_t l = 0; l < k; ++l)
            b[j * k + l] = GGML_FP32_TO_BF16(B[ldb * j + l]);
    const int64_t per = (m + params->nth - 1) / params->nth;
    const int64_t start = std::min(m, params->ith * per), end = std::min(m, start + per);
    switch (n) {
        case 1: plmkit_rows<1>(start, end, k, A, lda, b, C, ldc); break;
        case 2: plmkit_rows<2>(start, end, k, A, lda, b, C, ldc); break;
        case 3: plmkit_rows<3>(start, end, k, A, lda, b, C, ldc); break;
        case 4: plmkit_rows<4>(start, end, k, A, lda, b, C, ldc); break;
        case 5: plmkit_rows<5>(start, end, k, A, lda, b, C, ldc); break;
        case 6: plmkit_rows<6>(start, end, k, A, lda, b, C, ldc); break;
        case 7: plmkit_rows<7>(start, end, k, A, lda, b, C, ldc); break;
        default: plmkit_rows<8>(start, end, k, A, lda, b, C, ldc); break;
    }
    return true;
}
#endif

"""
            + SGEMM_ENTRY,
        ),
    ),
)

HUGE_PAGES = Patch(
    name="huge-pages",
    path=Path("vendor/llama.cpp/ggml/src/ggml.c"),
    marker="plmkit: transparent huge pages",
    changes=(
        (
            "void * ggml_aligned_malloc(size_t size) {\n",
            """#if defined(__linux__) && !defined(GGML_USE_CPU_HBM)
#include <sys/mman.h>
#include <unistd.h>
// plmkit: transparent huge pages for buffers of at least this size (the weights read with
// use_mmap off, the KV cache, the compute buffers): aligned to it and advised
#define GGML_PLMKIT_HUGE_PAGE ((size_t) 2 * 1024 * 1024)
#endif

void * ggml_aligned_malloc(size_t size) {
""",
        ),
        (
            """  #else
    int result = posix_memalign(&aligned_memory, alignment, size);
  #endif""",
            """  #elif defined(__linux__)
    int result;
    if (size >= GGML_PLMKIT_HUGE_PAGE) {
        result = posix_memalign(&aligned_memory, GGML_PLMKIT_HUGE_PAGE, size);
        if (result == 0) {
            madvise(aligned_memory, size, MADV_HUGEPAGE);  // a hint: 4 KiB pages where refused
            // memory the allocator had freed before comes back in the small pages it was
            // touched in: drop them (a new block has no contents to keep), so that the first
            // write takes huge pages; the last partial page may hold the next block's header
            const size_t page = (size_t) sysconf(_SC_PAGESIZE);
            madvise(aligned_memory, size / page * page, MADV_DONTNEED);
        }
    } else {
        result = posix_memalign(&aligned_memory, alignment, size);
    }
  #else
    int result = posix_memalign(&aligned_memory, alignment, size);
  #endif""",
        ),
    ),
)

ROWS_PREFETCH = Patch(
    name="rows-prefetch",
    path=Path("vendor/llama.cpp/ggml/src/ggml-cpu/llamafile/sgemm.cpp"),
    marker="plmkit: the weight line 32 lines on",
    changes=(
        (
            """        for (int64_t l = 0; l < k; l += 32) {
            const __m512bh av = (__m512bh)_mm512_loadu_si512(a + l);
""",
            """        for (int64_t l = 0; l < k; l += 32) {
            if constexpr (N >= 2) {  // plmkit: the weight line 32 lines on (2 KiB: ~100 ns)
                _mm_prefetch((const char *)(a + l) + 2048, _MM_HINT_T0);
            }
            const __m512bh av = (__m512bh)_mm512_loadu_si512(a + l);
""",
        ),
    ),
)

FA_ROWS = Patch(
    name="fa-rows",
    path=Path("vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp"),
    marker="plmkit: a query row of flash attention",
    changes=(
        (
            "static void ggml_compute_forward_flash_attn_ext_f16_one_chunk(\n",
            """#if defined(__AVX512F__) && defined(__AVX512DQ__)
// plmkit: a query row of flash attention against f16 K and V (a decoding token's row), in
// blocks of up to 64 cells: the block's scores (f32 dot products with the f32 query), one
// maximum, the exponentials 16 at a time (ggml_v_expf, as ggml's softmax), the V rows summed
// in f32 registers. Stock ggml takes a cell at a time: a call for the dot product (the query
// rounded to f16), a libm expf, and the V sum kept in f16 memory.
static inline float plmkit_dot_f16_f32(const ggml_fp16_t * k, const float * q, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 kv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + i)));
        acc = _mm512_fmadd_ps(kv, _mm512_loadu_ps(q + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

template <int NV>  // DV / 16
static void plmkit_fa_row(const char * k, size_t nbk1, const char * v, size_t nbv1,
                          const ggml_fp16_t * mp, float slope, float scale, const float * q,
                          int64_t DK, int64_t ic_start, int64_t ic_end,
                          float * VKQ, float * M_out, float * S_out) {
    constexpr int64_t BLOCK = 64;
    alignas(64) float p[BLOCK];
    int64_t cells[BLOCK];
    __m512 acc[NV];
    for (int j = 0; j < NV; ++j)
        acc[j] = _mm512_setzero_ps();
    float M = -INFINITY, S = 0.0f;
    for (int64_t b0 = ic_start; b0 < ic_end; b0 += BLOCK) {
        const int64_t b1 = std::min(b0 + BLOCK, ic_end);
        int64_t n = 0;
        float top = -INFINITY;
        for (int64_t ic = b0; ic < b1; ++ic) {
            const float mv = mp ? slope*GGML_CPU_FP16_TO_FP32(mp[ic]) : 0.0f;
            if (mv == -INFINITY) {
                continue;
            }
            const ggml_fp16_t * key = (const ggml_fp16_t *)(k + ic*nbk1);
            const float s = plmkit_dot_f16_f32(key, q, DK)*scale + mv;
            p[n] = s;
            cells[n++] = ic;
            top = std::max(top, s);
        }
        if (n == 0 || top == -INFINITY) {
            continue;
        }
        if (top > M) {  // a new maximum: what was summed so far scales down (M = -inf: 0)
            const float ms = expf(M - top);
            for (int j = 0; j < NV; ++j)
                acc[j] = _mm512_mul_ps(acc[j], _mm512_set1_ps(ms));
            S *= ms;
            M = top;
        }
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 lanes =
                n - i >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);
            const __m512 x = _mm512_maskz_loadu_ps(lanes, p + i);
            _mm512_mask_storeu_ps(p + i, lanes, ggml_v_expf(_mm512_sub_ps(x, _mm512_set1_ps(M))));
        }
        for (int64_t i = 0; i < n; ++i) {
            S += p[i];
            const ggml_fp16_t * row = (const ggml_fp16_t *)(v + cells[i]*nbv1);
            const __m512 w = _mm512_set1_ps(p[i]);
            for (int j = 0; j < NV; ++j) {
                const __m256i half = _mm256_loadu_si256((const __m256i *)(row + 16*j));
                const __m512 vv = _mm512_cvtph_ps(half);
                acc[j] = _mm512_fmadd_ps(vv, w, acc[j]);
            }
        }
    }
    for (int j = 0; j < NV; ++j)
        _mm512_storeu_ps(VKQ + 16*j, acc[j]);
    *M_out = M;
    *S_out = S;
}
#endif

static void ggml_compute_forward_flash_attn_ext_f16_one_chunk(
""",
        ),
        (
            """        // online softmax / attention
        // loop over n_kv and n_head_kv
        // ref: https://arxiv.org/pdf/2112.05682.pdf

        for (int64_t ic = ic_start; ic < ic_end; ++ic) {
""",
            """        // online softmax / attention
        // loop over n_kv and n_head_kv
        // ref: https://arxiv.org/pdf/2112.05682.pdf

#if defined(__AVX512F__) && defined(__AVX512DQ__)
        const bool plmkit_row = k->type == GGML_TYPE_F16 && v->type == GGML_TYPE_F16 &&
            logit_softcap == 0.0f && DK % 16 == 0 && (DV == 64 || DV == 128);
        if (plmkit_row) {  // plmkit: a query row of flash attention (above)
            const char * k_head = (const char *) k->data + ik2*nbk2 + ik3*nbk3;
            const char * v_head = (const char *) v->data + iv2*nbv2 + iv3*nbv3;
            if (DV == 64) {
                plmkit_fa_row<4>(k_head, nbk1, v_head, nbv1, mp, slope, scale, pq, DK,
                                 ic_start, ic_end, VKQ32, &M, &S);
            } else {
                plmkit_fa_row<8>(k_head, nbk1, v_head, nbv1, mp, slope, scale, pq, DK,
                                 ic_start, ic_end, VKQ32, &M, &S);
            }
        }
#else
        const bool plmkit_row = false;
#endif
        for (int64_t ic = ic_start; ic < ic_end && !plmkit_row; ++ic) {
""",
        ),
        (
            """        if (v->type == GGML_TYPE_F16) {
            for (int64_t d = 0; d < DV; ++d) {
                VKQ32[d] = GGML_CPU_FP16_TO_FP32(VKQ16[d]);
            }
        }
""",
            """        if (v->type == GGML_TYPE_F16 && !plmkit_row) {
            for (int64_t d = 0; d < DV; ++d) {
                VKQ32[d] = GGML_CPU_FP16_TO_FP32(VKQ16[d]);
            }
        }
""",
        ),
    ),
)

PATCHES = (SGEMM_FEW_ROWS, GEMV_BF16, ROWS_PREFETCH, HUGE_PAGES, FA_ROWS)


def patch_text(patch: Patch, text: str) -> str:
    """`text` with every change of `patch`; ValueError where a change's old text is not found
    exactly once. Already patched text comes back unchanged."""
    if patch.marker in text:
        return text
    for old, new in patch.changes:
        if text.count(old) != 1:
            first = next(line for line in old.splitlines() if line.strip())
            raise ValueError(f"expected text found {text.count(old)} times: {first.strip()}")
        text = text.replace(old, new)
    return text


def mark(init_text: str, applied: list[str]) -> str:
    """The package's __init__.py text naming the patches in `applied` (none: no mark)."""
    text = re.sub(r'^__plmkit_patch__ = ".*"\n?', "", init_text, flags=re.MULTILINE).rstrip()
    return f'{text}\n__plmkit_patch__ = "{"+".join(applied)}"\n' if applied else f"{text}\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    source = Path(argv[0])
    applied = []
    for patch in PATCHES:
        path = source / patch.path
        try:
            path.write_text(patch_text(patch, path.read_text(encoding="utf-8")), encoding="utf-8")
        except (OSError, ValueError) as error:
            print(f"not patched with {patch.name} ({path}): {error}", file=sys.stderr)
            continue
        applied.append(patch.name)
        print(f"patched {path} ({patch.name})")
    init = source / PACKAGE_INIT
    try:
        init.write_text(mark(init.read_text(encoding="utf-8"), applied), encoding="utf-8")
    except OSError as error:
        print(f"could not mark {init}: {error}", file=sys.stderr)
        return 1
    return 0 if len(applied) == len(PATCHES) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
