"""Fast inference engines behind two small interfaces (see `base.py`).

    backend = load_encoder_backend("minilm", task="embed", backend="auto")
    states = backend.forward(input_ids, attention_mask)       # (B, T, H) float32
    clf = load_encoder_backend("runs/sst2", task="classify")  # forward -> (B, C) logits
    lm = load_causal_lm_backend("smollm2")                    # .stream(ids, n, Sampling())

`backend` is a name from `registry.BACKENDS` (or an alias: fp32, bf16, int8, onnx, ct2,
llama) or `auto`, which measures the installed ones once and keeps the fastest that
agrees with fp32 (`select.py`). Optional engines are imported only when used. Loaded
backends are kept per process, like `loading.cached`.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plmkit.backends import registry
from plmkit.backends.base import CausalLMBackend, EncoderBackend, Sampling, Task
from plmkit.errors import InvalidInputError
from plmkit.registry import resolve

__all__ = [
    "CausalLMBackend",
    "EncoderBackend",
    "Sampling",
    "available",
    "choose",
    "forward_sorted",
    "load_causal_lm_backend",
    "load_encoder_backend",
]

_LOADED: dict[tuple, Any] = {}  # closed at exit: native engines must stop before teardown
_CHOSEN: dict[tuple, str] = {}
_MAX_LOADED = 6
TASKS = ("embed", "classify")


def _stamp(model: str) -> float:
    spec = resolve(model)
    if spec.source != "local":
        return 0.0
    files = list(Path(spec.locator).glob("*.safetensors"))
    return max((f.stat().st_mtime for f in files), default=0.0)


def _remember(key: tuple, backend: Any) -> Any:
    if key not in _LOADED and len(_LOADED) >= _MAX_LOADED:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = backend
    return backend


def build_encoder(model: str, task: Task, name: str) -> EncoderBackend:
    """A fresh encoder backend by canonical name (no caching, no auto)."""
    if name.startswith("torch-"):
        from plmkit.backends.torch_backend import TorchEncoder

        return TorchEncoder(model, task, name.removeprefix("torch-"))  # type: ignore[arg-type]
    from plmkit.backends.onnx_backend import OnnxEncoder

    return OnnxEncoder(model, task, name.removeprefix("onnx-"))


def build_causal_lm(model: str, name: str) -> CausalLMBackend:
    """A fresh decoder backend by canonical name (no caching, no auto)."""
    if name.startswith("torch-"):
        from plmkit.backends.torch_backend import TorchCausalLM

        return TorchCausalLM(model, name.removeprefix("torch-"))  # type: ignore[arg-type]
    if name == "ct2-int8":
        from plmkit.backends.ct2_backend import CT2CausalLM

        return CT2CausalLM(model, "int8")
    from plmkit.backends.llama_cpp_backend import LlamaCppCausalLM

    return LlamaCppCausalLM(model, name)


def choose(model: str, kind: str, task: str = "embed", backend: str = "auto", batch: bool = False):
    """The canonical backend name `backend` means for this model (measuring if auto)."""
    name = registry.require_installed(backend, kind)  # type: ignore[arg-type]
    if name != "auto":
        return name
    stamp = _stamp(model)
    key = (model, kind, task, batch, stamp)
    if key not in _CHOSEN:  # per process: the cache file is read once, not per request
        _CHOSEN[key] = _choose_auto(model, kind, task, batch, stamp)
    return _CHOSEN[key]


def _choose_auto(model: str, kind: str, task: str, batch: bool, stamp: float) -> str:
    from plmkit.backends import select

    if kind == "encoder":
        loaded: dict = {}
        choice = select.choose_encoder(model, task, lambda n: build_encoder(model, task, n), loaded)
        for n, b in loaded.items():  # keep the winner we already loaded
            if n == choice.name:
                _remember(("encoder", model, task, n, stamp), b)
        return choice.name
    loaded = {}
    choice = select.choose_decoder(model, lambda n: build_causal_lm(model, n), loaded)
    winner = choice.batch_name if batch and choice.batch_name else choice.name
    for n, b in loaded.items():
        if n == winner:
            _remember(("decoder", model, "generate", n, stamp), b)
        else:
            b.close()
    return winner


def load_encoder_backend(
    model: str = "minilm", task: Task = "embed", backend: str = "auto"
) -> EncoderBackend:
    """An encoder backend: `forward` gives token states (embed) or logits (classify)."""
    if task not in TASKS:
        raise InvalidInputError(f"unknown task '{task}'", f"use one of: {', '.join(TASKS)}")
    name = choose(model, "encoder", task, backend)
    key = ("encoder", model, task, name, _stamp(model))
    if key not in _LOADED:
        _remember(key, build_encoder(model, task, name))
    return _LOADED[key]


def load_causal_lm_backend(
    model: str = "smollm2", backend: str = "auto", batch: bool = False
) -> CausalLMBackend:
    """A decoder backend; `batch=True` makes auto prefer engines with real batching."""
    name = choose(model, "decoder", backend=backend, batch=batch)
    key = ("decoder", model, "generate", name, _stamp(model))
    if key not in _LOADED:
        _remember(key, build_causal_lm(model, name))
    return _LOADED[key]


def available(kind: str) -> dict[str, str]:
    """Every backend of `kind` -> 'installed' or why it is not."""
    return {n: registry.missing(n) or "installed" for n in registry.names(kind)}  # type: ignore


def forward_sorted(
    backend: EncoderBackend,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[np.ndarray]:
    """Run texts through `backend` in length-sorted batches; results in input order.

    Each result is (T_i, H) token states without padding (embed) or (C,) logits (classify).
    """
    from plmkit.batching import length_sorted_batches, restore_order

    limit = max_length or min(
        tokenizer.model_max_length, getattr(backend.config, "max_position_embeddings", 512)
    )
    ids = tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
    results: list[tuple[int, np.ndarray]] = []
    for batch in length_sorted_batches([len(x) for x in ids], batch_size):
        padded = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="np")
        out = backend.forward(padded["input_ids"], padded["attention_mask"])
        for row, index in enumerate(batch):
            results.append((index, out[row, : len(ids[index])] if out.ndim == 3 else out[row]))
    return restore_order(results)


def unload_all() -> None:
    """Forget every loaded backend and model (benchmarks measure each one from scratch)."""
    import gc

    from plmkit import loading

    for backend in _LOADED.values():
        if isinstance(backend, CausalLMBackend):
            backend.close()
    _LOADED.clear()
    _CHOSEN.clear()
    loading._CACHE.clear()
    gc.collect()


atexit.register(unload_all)
