"""The package's entry points: loading backends by name, keeping them, batch order, errors."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from plmkit import backends, loading
from plmkit.errors import BackendUnavailableError, InvalidInputError


def test_forward_sorted_returns_input_order(tiny_bert_dir, texts):
    """Unsorted lengths, batch 2: each result equals the text encoded alone."""
    tokenizer = loading.load_tokenizer(str(tiny_bert_dir))
    backend = backends.load_encoder_backend(str(tiny_bert_dir), "embed", "torch-fp32")
    batched = backends.forward_sorted(backend, tokenizer, texts, batch_size=2)
    for text, states in zip(texts, batched, strict=True):
        (alone,) = backends.forward_sorted(backend, tokenizer, [text])
        assert states.shape == alone.shape == (len(tokenizer(text)["input_ids"]), 32)
        np.testing.assert_allclose(states, alone, atol=1e-4)


def test_loaded_backends_are_kept_until_unloaded(tiny_bert_dir):
    first = backends.load_encoder_backend(str(tiny_bert_dir), "embed", "fp32")
    assert backends.load_encoder_backend(str(tiny_bert_dir), "embed", "torch-fp32") is first
    backends.unload_all()
    assert backends.load_encoder_backend(str(tiny_bert_dir), "embed", "torch-fp32") is not first


def test_unknown_backend_lists_the_known_ones(tiny_bert_dir):
    with pytest.raises(BackendUnavailableError) as caught:
        backends.load_encoder_backend(str(tiny_bert_dir), "embed", "tensorrt")
    assert "torch-fp32" in caught.value.fix and "onnx-int8" in caught.value.fix
    with pytest.raises(BackendUnavailableError):
        backends.load_causal_lm_backend("smollm2", "onnx-int8")  # an encoder-only engine
    with pytest.raises(InvalidInputError):
        backends.load_encoder_backend(str(tiny_bert_dir), "summarise", "torch-fp32")


def test_named_backend_that_is_not_installed_is_an_error(tiny_bert_dir, pretend_missing):
    pretend_missing("onnxruntime")
    with pytest.raises(BackendUnavailableError) as caught:
        backends.load_encoder_backend(str(tiny_bert_dir), "embed", "onnx-int8")
    assert "onnxruntime not installed" in caught.value.message
    assert "plmkit[fast]" in caught.value.message


def test_cli_backend_option(tiny_bert_dir):
    from plmkit.cli import app

    runner = CliRunner()
    ok = runner.invoke(
        app, ["encode", "the cat", "-m", str(tiny_bert_dir), "--backend", "fp32", "--json"]
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["encode", "the cat", "-m", str(tiny_bert_dir), "--backend", "nope"])
    assert bad.exit_code == 2
    assert "PLM008" in bad.output and "torch-fp32" in bad.output
