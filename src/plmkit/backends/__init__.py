"""Fast inference engines behind two small interfaces (see `base.py`).

    backend = load_encoder_backend("minilm", task="embed", backend="auto")
    states = backend.forward(input_ids, attention_mask)       # (B, T, H) float32
    clf = load_encoder_backend("runs/sst2", task="classify")  # forward -> (B, C) logits
    lm = load_causal_lm_backend("smollm2")                    # .stream(ids, n, Sampling())

`backend` is a name from `registry.BACKENDS` (or an alias: fp32, bf16, int8, onnx, ct2,
llama) or `auto`, which measures the installed ones once and keeps the fastest that
agrees with fp32 (`select.py`). ENCODER_BACKENDS (encode, classify) and DECODER_BACKENDS
(generate) list what `--backend` accepts, auto first. Optional engines are imported only
when used. Loaded backends are kept per process, like `loading.cached`.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from typing import Any

import numpy as np

from plmkit import loading
from plmkit.backends import registry
from plmkit.backends.base import CausalLMBackend, EncoderBackend, Sampling, Task, batch_plan
from plmkit.backends.registry import DECODER_BACKENDS, ENCODER_BACKENDS, choices
from plmkit.batching import map_padded
from plmkit.errors import InvalidInputError
from plmkit.loading.cache import BoundedCache
from plmkit.paths import weights_stamp
from plmkit.registry import resolve

__all__ = [
    "DECODER_BACKENDS",
    "ENCODER_BACKENDS",
    "CausalLMBackend",
    "EncoderBackend",
    "Sampling",
    "available",
    "batch_plan",
    "choices",
    "choose",
    "forward_sorted",
    "load_causal_lm_backend",
    "load_encoder_backend",
]

_LOADED: BoundedCache[Any] = BoundedCache()  # closed at exit: native engines stop first
_CHOSEN: dict[tuple, str] = {}
TASKS = ("embed", "classify")


def _stamp(model: str) -> int:
    """A local directory's weights' mtime: part of every key, so retrained models reload."""
    spec = resolve(model)
    return weights_stamp(spec.locator) if spec.source == "local" else 0


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


def _choose_auto(model: str, kind: str, task: str, batch: bool, stamp: int) -> str:
    from plmkit.backends import select

    if kind == "encoder":
        loaded: dict = {}
        choice = select.choose_encoder(model, task, lambda n: build_encoder(model, task, n), loaded)
        for n, b in loaded.items():  # keep the winner we already loaded
            if n == choice.name:
                _LOADED.put(("encoder", model, task, n, stamp), b)
        return choice.name
    loaded = {}
    choice = select.choose_decoder(model, lambda n: build_causal_lm(model, n), loaded)
    winner = choice.batch_name if batch and choice.batch_name else choice.name
    for n, b in loaded.items():
        if n == winner:
            _LOADED.put(("decoder", model, "generate", n, stamp), b)
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
    return _LOADED.get_or_make(key, lambda: build_encoder(model, task, name))


def load_causal_lm_backend(
    model: str = "smollm2", backend: str = "auto", batch: bool = False
) -> CausalLMBackend:
    """A decoder backend; `batch=True` makes auto prefer engines with real batching."""
    name = choose(model, "decoder", backend=backend, batch=batch)
    key = ("decoder", model, "generate", name, _stamp(model))
    return _LOADED.get_or_make(key, lambda: build_causal_lm(model, name))


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
    limit = max_length or min(
        tokenizer.model_max_length, getattr(backend.config, "max_position_embeddings", 512)
    )
    ids = tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
    rows, workers, run = batch_plan(backend, batch_size)

    def forward(batch: list[int], input_ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        out = run(input_ids, mask)  # (B, T, H) or (B, C)
        return [
            out[row, : len(ids[i])] if out.ndim == 3 else out[row] for row, i in enumerate(batch)
        ]

    return map_padded(tokenizer, ids, rows, forward, workers=workers)


def unload_all() -> None:
    """Forget every loaded backend and model (benchmarks measure each one from scratch)."""
    import gc

    for backend in _LOADED.values():
        if isinstance(backend, CausalLMBackend):
            backend.close()
    _LOADED.clear()
    _CHOSEN.clear()
    loading.clear()
    gc.collect()


atexit.register(unload_all)
