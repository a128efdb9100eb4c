"""Which engines `auto` tries on this CPU: detection rules some out before any measuring."""

from __future__ import annotations

import pytest

from plmkit.backends.candidates import candidates


@pytest.mark.parametrize("native", [True, False])
def test_one_16_bit_llama_copy_is_tried_by_native_bf16(monkeypatch, native):
    """With native bf16, auto tries llama-cpp-bf16 (and torch-bf16); without, llama-cpp-f16,
    whose F16C GEMM is the faster 16-bit path for batches on AVX2."""
    monkeypatch.setattr("plmkit.hardware.use_bf16", lambda: native)
    monkeypatch.setattr("plmkit.backends.registry.missing", lambda name: None)
    names, notes = candidates("decoder")
    assert ("llama-cpp-bf16" in names) is native
    assert ("llama-cpp-f16" in names) is not native
    assert ("torch-bf16" in names) is native
    left_out = "llama-cpp-f16" if native else "llama-cpp-bf16"
    assert any(note.startswith(f"{left_out} skipped:") for note in notes)
