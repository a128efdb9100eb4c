"""The two small interfaces every inference engine implements.

Backends speak numpy at the edges (int64 ids in, float32 out) so that a pipeline never
cares whether torch, ONNX Runtime, CTranslate2 or llama.cpp did the work.

A decoder reports its context (`context_size`: prompt and new tokens of one sequence) and
never decodes past it: `stream` and `decode_batch` stop where the context is full instead
of raising, so no engine error reaches the user at the end of the context. What the user is
told about it (a capped request, a prompt too long) is the generate pipeline's business.
`decode_batch` streams a batch's tokens row by row through a callback, so a server can
stream every request of a batch and stop one (a stop string, a client gone) without the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Task = Literal["embed", "classify"]
OnToken = Callable[[int, int], bool]
"""(row, token) -> True to stop decoding that row; called for every new token, as it is made."""


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


CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "seq_length")
"""Where a Hugging Face config keeps the number of positions the model was trained on."""


def config_context(config: Any) -> int | None:
    """The context a Hugging Face config declares (None where it declares none)."""
    for field in CONTEXT_FIELDS:
        value = getattr(config, field, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class EncoderBackend(ABC):
    """An encoder that maps padded token ids to token states or class logits."""

    name: str = ""
    task: Task = "embed"
    config: Any = None
    """The Hugging Face config (hidden_size, id2label, max_position_embeddings...)."""

    concurrency: int = 1
    """Batches the engine runs at once, one per core, each through `forward_alone` (1: one
    batch at a time through `forward`, which may use every core itself)."""
    run_rows: int = 0
    """With `concurrency` > 1: the most rows such a batch holds (0: the caller's batch size)."""
    first_token: bool = False
    """A classifier whose last layer runs for the first token alone (ONNX exports, where the
    model allows it: loading/first_token.py): fewer FLOPs per text, for the bench's limit."""

    @abstractmethod
    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(B, T) int64 ids and mask -> (B, T, H) token states (embed) or (B, C) logits."""

    def forward_alone(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """`forward` on one core, for running `concurrency` batches at once."""
        return self.forward(input_ids, attention_mask)


def batch_plan(
    backend: EncoderBackend, batch_size: int
) -> tuple[int, int, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """(rows per batch, batches at once, the forward to call) for running many texts through
    `backend` (`batching.map_padded(..., workers=...)`): an engine with `concurrency` > 1
    gets whole batches of at most `run_rows` rows on each core at once."""
    if backend.concurrency > 1:
        rows = min(batch_size, backend.run_rows or batch_size)
        return rows, backend.concurrency, backend.forward_alone
    return batch_size, 1, backend.forward


class CausalLMBackend(ABC):
    """A decoder that streams new token ids for a prompt, and scores token sequences."""

    name: str = ""
    eos_token_ids: frozenset[int] = frozenset()

    @property
    def context_size(self) -> int | None:
        """Most tokens one sequence holds, prompt and new ones together (None: no limit known)."""
        return None

    def room(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """`max_new_tokens`, capped so that the prompt and the new tokens fit the context."""
        if self.context_size is None:
            return max_new_tokens
        return max(0, min(max_new_tokens, self.context_size - prompt_tokens))

    @abstractmethod
    def stream(
        self, prompt_ids: Sequence[int], max_new_tokens: int, sampling: Sampling
    ) -> Iterator[int]:
        """Yield new token ids one at a time (eos included), at most `room(...)` of them;
        stop by leaving the loop."""

    batches: bool = False
    """True where `decode_batch` really decodes the prompts together (one forward per step)."""

    def decode_batch(
        self,
        prompts: Sequence[Sequence[int]],
        limits: Sequence[int],
        sampling: Sampling,
        on_token: OnToken,
    ) -> None:
        """Decode several prompts at once, handing each new token to `on_token` as it comes;
        row `i` stops at eos, after `limits[i]` new tokens, at the context, or when
        `on_token` says so. Engines with real batching override this; here the prompts run
        one after another.

        No sequence goes past the context; engines that run a batch to one length (torch,
        CTranslate2) stop every sequence where the longest prompt fills the context."""
        for row, prompt in enumerate(prompts):
            for token in self.stream(prompt, limits[row], sampling):
                if on_token(row, token):
                    break

    def generate_batch(
        self, prompts: Sequence[Sequence[int]], max_new_tokens: int, sampling: Sampling
    ) -> list[list[int]]:
        """New ids for several prompts at once (`decode_batch`, collected)."""
        outputs: list[list[int]] = [[] for _ in prompts]

        def keep(row: int, token: int) -> bool:
            outputs[row].append(token)
            return False

        self.decode_batch(prompts, [max_new_tokens] * len(prompts), sampling, keep)
        return outputs

    @abstractmethod
    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """(len(ids) - 1,) log-probability of each token given the ones before it."""

    def close(self) -> None:  # noqa: B027 - optional hook, most engines need nothing
        """Free native resources early (the garbage collector does it otherwise)."""
