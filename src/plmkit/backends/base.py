"""The two small interfaces every inference engine implements.

Backends speak numpy at the edges (int64 ids in, float32 out) so that a pipeline never
cares whether torch, ONNX Runtime, CTranslate2 or llama.cpp did the work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Task = Literal["embed", "classify"]


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked; the same fields for every decoder backend."""

    greedy: bool = True
    temperature: float = 1.0
    top_k: int = 50
    """0 = no limit."""
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None


class EncoderBackend(ABC):
    """An encoder that maps padded token ids to token states or class logits."""

    name: str = ""
    task: Task = "embed"
    config: Any = None
    """The Hugging Face config (hidden_size, id2label, max_position_embeddings...)."""

    @abstractmethod
    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(B, T) int64 ids and mask -> (B, T, H) token states (embed) or (B, C) logits."""


class CausalLMBackend(ABC):
    """A decoder that streams new token ids for a prompt, and scores token sequences."""

    name: str = ""
    eos_token_ids: frozenset[int] = frozenset()

    @abstractmethod
    def stream(
        self, prompt_ids: Sequence[int], max_new_tokens: int, sampling: Sampling
    ) -> Iterator[int]:
        """Yield new token ids one at a time (eos included); stop by leaving the loop."""

    def generate_batch(
        self, prompts: Sequence[Sequence[int]], max_new_tokens: int, sampling: Sampling
    ) -> list[list[int]]:
        """New ids for several prompts at once; engines with real batching override this."""
        return [list(self.stream(p, max_new_tokens, sampling)) for p in prompts]

    @abstractmethod
    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """(len(ids) - 1,) log-probability of each token given the ones before it."""

    def close(self) -> None:  # noqa: B027 - optional hook, most engines need nothing
        """Free native resources early (the garbage collector does it otherwise)."""
