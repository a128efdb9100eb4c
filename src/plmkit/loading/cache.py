"""Models kept per process: the server and the demo reuse them across calls.

`BoundedCache` is the one small FIFO store behind both this module's `cached` and the
loaded-backend cache in `plmkit.backends`: a few models fit in memory, so the oldest
goes when one more arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from plmkit.loading.models import (
    load_causal_lm,
    load_classifier,
    load_encoder,
    load_for_attention,
    load_masked_lm,
)
from plmkit.loading.saved_tokenizer import load_inference_tokenizer
from plmkit.loading.tokenizer import load_tokenizer
from plmkit.paths import weights_stamp
from plmkit.registry import resolve

if TYPE_CHECKING:
    import torch

V = TypeVar("V")

KEPT_MODELS = 6
"""How many loaded models (or backends) a process keeps, oldest dropped first."""


class BoundedCache(Generic[V]):
    """At most `size` values by key; adding one more drops the one added first."""

    def __init__(self, size: int = KEPT_MODELS) -> None:
        self.size = size
        self._values: dict[Hashable, V] = {}

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for `key`, made (and kept) by `make()` when there is none."""
        if key not in self._values:
            self._make_room()  # before `make`: the oldest model's memory is freed first
            self._values[key] = make()
        return self._values[key]

    def put(self, key: Hashable, value: V) -> V:
        if key not in self._values:
            self._make_room()
        self._values[key] = value
        return value

    def _make_room(self) -> None:
        if len(self._values) >= self.size:
            self._values.pop(next(iter(self._values)))

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def values(self) -> Iterator[V]:
        return iter(list(self._values.values()))

    def clear(self) -> None:
        self._values.clear()


_LOADERS = {
    "tokenizer": load_tokenizer,
    "inference_tokenizer": load_inference_tokenizer,
    "encoder": load_encoder,
    "masked_lm": load_masked_lm,
    "causal_lm": load_causal_lm,
    "classifier": load_classifier,
    "attention": load_for_attention,
}
_MODELS: BoundedCache[Any] = BoundedCache()


def cached(what: str, name: str, dtype: torch.dtype | None = None) -> Any:
    """Load once per process: `what` is tokenizer, inference_tokenizer (`saved_tokenizer`:
    no transformers import once saved), encoder, masked_lm, causal_lm, classifier or
    attention (`load_for_attention`: eager attention, fp32 whatever `dtype` says).

    The key includes the weights' modification time, so a directory rewritten by a
    training run is loaded afresh.
    """
    spec = resolve(name)
    stamp = weights_stamp(spec.locator) if spec.source == "local" else 0
    loader = _LOADERS[what]

    def load() -> Any:
        if what in ("tokenizer", "inference_tokenizer", "attention"):
            return loader(spec)
        return loader(spec, dtype)

    return _MODELS.get_or_make((what, spec.name, str(dtype), stamp), load)


def clear() -> None:
    """Forget every cached model (benchmarks measure each one from scratch)."""
    _MODELS.clear()
