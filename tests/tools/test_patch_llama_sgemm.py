"""tools/patch_llama_sgemm.py: patches llama-cpp-python 0.3.36's sgemm.cpp once, marks the
package, and refuses a source it does not fit (the Makefile then builds it unpatched)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "patch_llama_sgemm.py"


@pytest.fixture(scope="module")
def patcher():
    spec = importlib.util.spec_from_file_location("patch_llama_sgemm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The two places the patch changes, as llama-cpp-python 0.3.36 ships them (abridged around).
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


def _source(tmp_path: Path, sgemm: str, patcher) -> Path:
    (tmp_path / patcher.SGEMM).parent.mkdir(parents=True)
    (tmp_path / patcher.SGEMM).write_text(sgemm)
    (tmp_path / patcher.PACKAGE_INIT).parent.mkdir(parents=True)
    (tmp_path / patcher.PACKAGE_INIT).write_text('__version__ = "0.3.36"\n')
    return tmp_path


def test_patches_the_tile_choice_and_the_prefetch_once(tmp_path, patcher):
    source = _source(tmp_path, SGEMM_0_3_36, patcher)
    assert patcher.main([str(source)]) == 0
    once = (source / patcher.SGEMM).read_text()
    # few activation rows take 1 x 8 tiles before the 4 x 6 choice; prefetch in the loop
    assert once.index("mnpack<1, 8, 32>") < once.index("mnpack<4, 6, 4>")
    assert "if (n <= 8 && m % 32 == 0)" in once
    assert once.index("_mm_prefetch") > once.index("Av[i] = load<V>")
    init = (source / patcher.PACKAGE_INIT).read_text()
    assert init.endswith(f'__plmkit_patch__ = "{patcher.PATCH_NAME}"\n')
    assert patcher.main([str(source)]) == 0  # again: nothing changes
    assert (source / patcher.SGEMM).read_text() == once
    assert (source / patcher.PACKAGE_INIT).read_text() == init


def test_refuses_a_source_it_does_not_fit(tmp_path, patcher, capsys):
    other = SGEMM_0_3_36.replace("BLOCK_SIZE<6>(n)", "BLOCK_SIZE<5>(n)")  # another version
    source = _source(tmp_path, other, patcher)
    assert patcher.main([str(source)]) == 1
    assert "not patched" in capsys.readouterr().err
    assert (source / patcher.SGEMM).read_text() == other  # left as it was
    assert "__plmkit_patch__" not in (source / patcher.PACKAGE_INIT).read_text()
    assert patcher.main([str(tmp_path / "missing")]) == 1


def test_the_installed_build_reports_its_patch(tmp_path, monkeypatch):
    """registry.engine_version reads the mark without loading llama.cpp."""
    from plmkit.backends import registry

    package = tmp_path / "llama_cpp"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "0.3.36"\n__plmkit_patch__ = "x-y"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)  # find_spec looks there first
    monkeypatch.setattr("plmkit.paths.package_version", lambda dist, missing=None: "0.3.36")
    assert registry.engine_version("llama_cpp_python") == "0.3.36+x-y"
    assert registry.engine_version("llama-cpp-python") == "0.3.36+x-y"  # plm doctor's name
    assert registry.engine_version("torch") == "0.3.36"  # no mark read for the others
    (package / "__init__.py").write_text('__version__ = "0.3.36"\n')
    importlib.invalidate_caches()
    assert registry.engine_version("llama_cpp_python") == "0.3.36"
