"""tools/patch_llama.py: patches llama-cpp-python 0.3.36's sgemm.cpp, ops.cpp and ggml.c once each,
marks the package with the patches applied, and leaves a file it does not fit as it was (the
Makefile then builds it so, with a note)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "patch_llama.py"


@pytest.fixture(scope="module")
def patcher():
    spec = importlib.util.spec_from_file_location("patch_llama", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


# The places the patches change, as llama-cpp-python 0.3.36 ships them (abridged around).
SGEMM_0_3_36 = """
    bool matmul(int64_t m, int64_t n) {
        if (k % KN != 0)
            return false;
        // compute RM for only need tile with size RM&RM-1
#if VECTOR_REGISTERS == 32
        if (m % 16 == 0 && (m/16 >= params->nth)) {
            const int64_t SIZE_N = BLOCK_SIZE<6>(n);
            mnpack<4, 6, 4>(m, n, SIZE_N, 12);
            return true;
        }
#endif
    }

    template <int RM, int RN>
    inline void gemm_bloc(int64_t ii, int64_t jj) {
        D Cv[RN][RM] = {};
        for (int64_t l = 0; l < k; l += KN) {
            // help compiler for op order.
            if constexpr (RM <= RN) {
                V Av[RM];
                for (int64_t i = 0; i < RM; ++i) {
                    Av[i] = load<V>(A + lda * (ii + i) + l);
                }
                for (int64_t j = 0; j < RN; ++j) {
"""


SGEMM_ENTRY_0_3_36 = """
bool llamafile_sgemm(const struct ggml_compute_params * params, int64_t m, int64_t n, int64_t k,
                     const void *A, int64_t lda, const void *B, int64_t ldb, void *C,
                     int64_t ldc, int Atype, int Btype, int Ctype) {

    // only enable sgemm for prompt processing
#if !defined(__MMA__)
    if (n < 2)
        return false;
#endif

    if (Ctype != GGML_TYPE_F32)
        return false;
"""

GGML_0_3_36 = """
void * ggml_aligned_malloc(size_t size) {
    void * aligned_memory = NULL;
  #ifdef GGML_USE_CPU_HBM
    int result = hbw_posix_memalign(&aligned_memory, alignment, size);
  #elif TARGET_OS_OSX
    int result = EFAULT;
  #else
    int result = posix_memalign(&aligned_memory, alignment, size);
  #endif
    if (result != 0) {
"""


OPS_0_3_36 = """
static void ggml_compute_forward_flash_attn_ext_f16_one_chunk(
        const ggml_compute_params * params,
        const float * pq = (const float *) ((char *) q->data + (iq1*nbq1 + iq2*nbq2 + iq3*nbq3));
        q_to_vec_dot(pq, Q_q, DK);

        // online softmax / attention
        // loop over n_kv and n_head_kv
        // ref: https://arxiv.org/pdf/2112.05682.pdf

        for (int64_t ic = ic_start; ic < ic_end; ++ic) {
            const float mv = mp ? slope*GGML_CPU_FP16_TO_FP32(mp[ic]) : 0.0f;
            S = S*ms + vs; // scale and increment sum with partial sum
        }

        if (v->type == GGML_TYPE_F16) {
            for (int64_t d = 0; d < DV; ++d) {
                VKQ32[d] = GGML_CPU_FP16_TO_FP32(VKQ16[d]);
            }
        }

        // sinks - apply only on the first kv-chunk
"""


def _source(
    tmp_path: Path,
    patcher,
    sgemm: str = SGEMM_0_3_36 + SGEMM_ENTRY_0_3_36,
    ggml: str = GGML_0_3_36,
    ops: str = OPS_0_3_36,
) -> Path:
    for patch, text in (
        (patcher.SGEMM_FEW_ROWS, sgemm),
        (patcher.HUGE_PAGES, ggml),
        (patcher.FA_ROWS, ops),
    ):
        (tmp_path / patch.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / patch.path).write_text(text)
    (tmp_path / patcher.PACKAGE_INIT).parent.mkdir(parents=True)
    (tmp_path / patcher.PACKAGE_INIT).write_text('__version__ = "0.3.36"\n')
    return tmp_path


def test_patches_both_files_once_and_marks_the_package(tmp_path, patcher):
    source = _source(tmp_path, patcher)
    assert patcher.main([str(source)]) == 0
    sgemm = (source / patcher.SGEMM_FEW_ROWS.path).read_text()
    # few activation rows take 1 x 8 tiles before the 4 x 6 choice; prefetch in the loop
    assert sgemm.index("mnpack<1, 8, 32>") < sgemm.index("mnpack<4, 6, 4>")
    assert "if (n <= 8 && m % 32 == 0)" in sgemm
    assert sgemm.index("_mm_prefetch") > sgemm.index("Av[i] = load<V>")
    # up to 8 activation rows against bf16 weights: their own kernel, defined before the entry
    # point and taken first there (AVX-512 BF16 builds only); the stock checks follow
    kernel = sgemm.index("static bool plmkit_rows_bf16(")
    taken = sgemm.index("plmkit_rows_bf16(params, m, n, k,")
    assert kernel < sgemm.index("bool llamafile_sgemm(") < taken < sgemm.index("if (n < 2)")
    assert sgemm.count("#if defined(__AVX512BF16__)") == 2
    assert "if (n <= 8 && Atype == GGML_TYPE_BF16 && Btype == GGML_TYPE_F32" in sgemm
    assert "_mm512_dpbf16_ps(c[j], av, " in sgemm and "GGML_FP32_TO_BF16(B[ldb * j + l])" in sgemm
    # 2-8 rows: the weight line 2 KiB on is fetched ahead, in that kernel's loop
    ahead = sgemm.index("_mm_prefetch((const char *)(a + l) + 2048, _MM_HINT_T0)")
    kernel_end = sgemm.index("static bool plmkit_rows_bf16(")
    assert sgemm.index("static void plmkit_rows(") < ahead < kernel_end
    assert sgemm[sgemm.rindex("if constexpr", 0, ahead) :].startswith("if constexpr (N >= 2)")
    ops = (source / patcher.FA_ROWS.path).read_text()
    # a query row of flash attention: its kernel before the stock function, taken in the row
    # loop where K and V are f16 (AVX-512 builds), the stock cell loop and f16 sum otherwise
    assert ops.index("static void plmkit_fa_row(") < ops.index("flash_attn_ext_f16_one_chunk(")
    assert ops.count("#if defined(__AVX512F__) && defined(__AVX512DQ__)") == 2
    assert "ic < ic_end && !plmkit_row; ++ic)" in ops
    assert "if (v->type == GGML_TYPE_F16 && !plmkit_row) {" in ops
    assert "const bool plmkit_row = false;" in ops  # other CPUs: the stock loop
    ggml = (source / patcher.HUGE_PAGES.path).read_text()
    # buffers of 2 MiB or more: aligned to 2 MiB and advised, on Linux; the rest as before
    assert ggml.index("#include <sys/mman.h>") < ggml.index("void * ggml_aligned_malloc")
    assert "posix_memalign(&aligned_memory, GGML_PLMKIT_HUGE_PAGE, size)" in ggml
    advise = ggml.index("madvise(aligned_memory, size, MADV_HUGEPAGE)")
    assert advise < ggml.index("MADV_DONTNEED") < ggml.index("  #else")  # then fresh pages
    assert ggml.count(" posix_memalign(&aligned_memory, alignment, size)") == 2  # small, other OS
    assert ggml.index("#elif defined(__linux__)") > ggml.index("#elif TARGET_OS_OSX")
    init = (source / patcher.PACKAGE_INIT).read_text()
    names = "sgemm-few-rows+gemv-bf16+rows-prefetch+huge-pages+fa-rows"
    assert init.endswith(f'__plmkit_patch__ = "{names}"\n')
    assert patcher.main([str(source)]) == 0  # again: nothing changes
    assert (source / patcher.SGEMM_FEW_ROWS.path).read_text() == sgemm
    assert (source / patcher.HUGE_PAGES.path).read_text() == ggml
    assert (source / patcher.FA_ROWS.path).read_text() == ops
    assert (source / patcher.PACKAGE_INIT).read_text() == init


def test_a_patch_that_does_not_fit_is_left_out_and_the_others_applied(tmp_path, patcher, capsys):
    other = (SGEMM_0_3_36 + SGEMM_ENTRY_0_3_36).replace("BLOCK_SIZE<6>(n)", "BLOCK_SIZE<5>(n)")
    source = _source(tmp_path, patcher, sgemm=other)
    assert patcher.main([str(source)]) == 1
    assert "not patched with sgemm-few-rows" in capsys.readouterr().err
    sgemm = (source / patcher.SGEMM_FEW_ROWS.path).read_text()
    assert "mnpack<1, 8, 32>" not in sgemm  # that change left out (another version) ...
    assert "plmkit_rows_bf16" in sgemm  # ... the bf16 kernel for up to 8 rows still in
    assert "MADV_HUGEPAGE" in (source / patcher.HUGE_PAGES.path).read_text()
    init = (source / patcher.PACKAGE_INIT).read_text()
    assert init.endswith('__plmkit_patch__ = "gemv-bf16+rows-prefetch+huge-pages+fa-rows"\n')


def test_the_mark_names_what_this_build_applied(patcher):
    """A build patched before (session 18's sgemm-few-rows alone) is marked anew."""
    old = '__version__ = "0.3.36"\n__plmkit_patch__ = "sgemm-few-rows"\n'
    assert patcher.mark(old, ["sgemm-few-rows", "huge-pages"]) == (
        '__version__ = "0.3.36"\n__plmkit_patch__ = "sgemm-few-rows+huge-pages"\n'
    )
    assert patcher.mark(old, []) == '__version__ = "0.3.36"\n'


def test_a_missing_source_is_reported(tmp_path, patcher, capsys):
    assert patcher.main([str(tmp_path / "missing")]) == 1
    assert "not patched with huge-pages" in capsys.readouterr().err


def test_the_installed_build_reports_its_patches(tmp_path, monkeypatch):
    """registry.engine_version and llama_cpp_patches read the mark without loading llama.cpp."""
    from plmkit.backends import registry

    package = tmp_path / "llama_cpp"
    package.mkdir()
    mark = '__plmkit_patch__ = "sgemm-few-rows+huge-pages"'
    (package / "__init__.py").write_text(f'__version__ = "0.3.36"\n{mark}\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)  # find_spec looks there first
    monkeypatch.setattr("plmkit.paths.package_version", lambda dist, missing=None: "0.3.36")
    expected = "0.3.36+sgemm-few-rows+huge-pages"
    assert registry.engine_version("llama_cpp_python") == expected
    assert registry.engine_version("llama-cpp-python") == expected  # plm doctor's name
    assert registry.engine_version("torch") == "0.3.36"  # no mark read for the others
    assert registry.llama_cpp_patches() == {"sgemm-few-rows", "huge-pages"}
    (package / "__init__.py").write_text('__version__ = "0.3.36"\n')
    importlib.invalidate_caches()
    assert registry.engine_version("llama_cpp_python") == "0.3.36"
    assert registry.llama_cpp_patches() == frozenset()


def test_plm_doctor_knows_every_patch_this_tool_applies(patcher):
    """`plm doctor` names a missing patch with what it is worth (doctor.LLAMA_PATCH_GAIN) and
    asks only for patches this tool applies: the two lists name the same patches."""
    from plmkit import doctor

    assert set(doctor.LLAMA_PATCH_GAIN) == {patch.name for patch in patcher.PATCHES}
    assert {patch.name for patch in patcher.PATCHES} >= set(doctor.wanted_llama_patches())
