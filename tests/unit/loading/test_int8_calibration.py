"""The calibration statistics and the int8 weight rounding (GPTQ) of the int8 rewrites."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_graphs import one_matmul  # noqa: E402

from plmkit.loading.int8_calibration import input_statistics, int8_columns  # noqa: E402

K, N = 64, 32


def test_rounding_against_the_inputs_brings_the_products_closer():
    """With X^T X, int8_columns carries each row's rounding error into the rows not yet
    rounded (GPTQ): on correlated inputs it is not seen on, x @ w comes out closer than
    with each weight rounded alone, on the same scales and the same int8 range."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(K, K)) * 0.3 + np.eye(K)  # correlated channels

    def inputs(seed: int, rows: int) -> np.ndarray:
        return np.random.default_rng(seed).normal(size=(rows, K)) @ mixing

    calibration, held_out = inputs(1, 400), inputs(2, 400)
    w = rng.normal(size=(K, N)).astype(np.float32)
    plain_q, plain_scale = int8_columns(w)
    q, scale = int8_columns(w, calibration.T @ calibration)
    np.testing.assert_array_equal(scale, plain_scale)
    assert q.dtype == np.int8 and np.abs(q.astype(int)).max() <= 127
    exact = held_out @ w
    error = np.abs(held_out @ (q * scale) - exact).mean()
    plain_error = np.abs(held_out @ (plain_q * plain_scale) - exact).mean()
    assert error < plain_error * 0.85, (error, plain_error)  # measured: 0.74x


def test_input_statistics_match_the_inputs(tmp_path):
    """input_statistics: per channel max |x| and X^T X over the real tokens."""
    w = np.random.default_rng(0).normal(size=(K, N)).astype(np.float32)
    source = tmp_path / "fp32.onnx"
    one_matmul(source, w)
    x = np.random.default_rng(1).normal(size=(2, 5, K)).astype(np.float32)
    mask = np.ones((2, 5), np.int64)
    mask[1, 3:] = 0  # padding is not counted
    maxima, grams = input_statistics(source, [{"x": x, "attention_mask": mask}])
    real = x[mask.astype(bool)].astype(np.float64)
    np.testing.assert_allclose(maxima["x"], np.abs(real).max(0), rtol=1e-6)
    np.testing.assert_allclose(grams["x"], real.T @ real, rtol=1e-6)
