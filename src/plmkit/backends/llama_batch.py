"""llama.cpp's batched decode: every live sequence advances in one llama_decode per step.

llama-cpp-python's high-level `Llama` decodes one sequence; its low-level context and batch
(`llama_cpp._internals`) take several sequences, each token of a batch tagged with its
sequence, each sequence with a KV cache of its own (or all in one where their lengths are
very uneven: `kv_unified`). Decoding a small model is bound by reading the weights,
so 8 sequences cost little more per step than one (148 -> 257 tok/s for 8 prompts on a quiet
Zen 5). A second context is opened for batches, sized for the prompts and the new tokens they
have room for, so the backend's own single-stream context is never touched.

Prompt tokens are decoded once where they can be (`_prefill`):
- the tokens all prompts share (a system prompt, the chat template's opening, the same
  question) go into one sequence and are copied to the others: 8 chat streams of the same
  question on the Zen 3 went from 1.15x to 2.51x one stream (bf16 GGUF);
- the batch's context is kept for the next batch (`KeptContext`), and each prompt goes to the
  sequence whose cache already holds the longest start of it, as llama.cpp's server keeps a
  slot's cache for its next request and the single-stream `Llama` reuses the prompt it saw
  last. The bench's 8 chat prompts again (smollm2 bf16, 128 new tokens each, 2-core Zen 4):
  the prefill's 0.21-0.23 s (and 9 ms to open a context) became one 8-token step, and a
  batch took 2.11-2.15 s instead of 2.31-2.34 s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plmkit.backends.base import OnToken, Sampling
from plmkit.backends.llama_cpp_backend import FLASH_ATTENTION
from plmkit.hardware import cpu_info

CHUNK = 512
"""Prompt tokens per llama_decode (the batch's n_batch)."""
KV_BLOCK = 256
"""llama.cpp sizes each sequence's KV cache in blocks of this many cells."""


@dataclass
class KeptContext:
    """A batch context kept for the next batch, with the tokens whose KV entries each of its
    sequences holds (from position 0)."""

    context: Any
    shape: tuple[int, int, bool]
    """(sequences, n_ctx, kv_unified) it was opened with."""
    held: list[list[int]]

    def fits(self, shape: tuple[int, int, bool]) -> bool:
        """Whether a batch that needs a context of `shape` can run in this one."""
        sequences, n_ctx, unified = shape
        return self.shape[0] == sequences and self.shape[2] == unified and self.shape[1] >= n_ctx

    def close(self) -> None:
        self.context.close()


def context_shape(needs: Sequence[int]) -> tuple[int, int, bool]:
    """(sequences, n_ctx, kv_unified) for sequences of `needs` tokens (prompt and new)."""
    unified = kv_unified(needs)

    # a cache per sequence: llama.cpp gives each its share of n_ctx in whole 256-cell
    # blocks (and warns on stderr where n_ctx is not that many blocks per sequence)
    def blocks(cells: int) -> int:
        return -(-cells // KV_BLOCK) * KV_BLOCK

    # one cache: whole blocks too, so that the next batch of about the same size fits in it
    n_ctx = blocks(sum(needs) + 64) if unified else len(needs) * blocks(max(needs))
    return len(needs), n_ctx, unified


def _open(llm: Any, shape: tuple[int, int, bool]) -> KeptContext:
    import llama_cpp
    from llama_cpp._internals import LlamaContext

    sequences, n_ctx, unified = shape
    params = llama_cpp.llama_context_default_params()
    params.kv_unified = unified
    params.n_ctx = n_ctx
    params.n_batch = params.n_ubatch = CHUNK
    params.n_seq_max = sequences
    params.n_threads = params.n_threads_batch = cpu_info().threads
    if hasattr(params, "flash_attn_type"):  # as the single stream's context (Llama's)
        params.flash_attn_type = int(FLASH_ATTENTION)
    else:  # an older llama-cpp-python: a flag
        params.flash_attn = FLASH_ATTENTION
    context = LlamaContext(model=llm._model, params=params, verbose=False)
    return KeptContext(context, shape, [[] for _ in range(sequences)])


def decode_llama_batch(
    llm: Any,
    prompts: Sequence[Sequence[int]],
    limits: Sequence[int],
    eos_token_ids: frozenset[int],
    sampling: Sampling,
    on_token: OnToken,
    kept: KeptContext | None = None,
) -> KeptContext:
    """Decode `prompts` together on `llm` (a `llama_cpp.Llama`); `limits` are already capped
    to each sequence's room in the context. `on_token(row, token)` -> True stops that row.

    Runs in `kept` (the previous batch's context) where it fits, else in a new one (`kept`
    closed); returns the context to keep for the next batch. On an error the context is
    closed, since what its caches hold is then unknown."""
    import torch
    from llama_cpp._internals import LlamaBatch

    from plmkit.backends.sampling import pick_token

    shape = context_shape([len(p) + limit for p, limit in zip(prompts, limits, strict=True)])
    if kept is not None and not kept.fits(shape):
        kept.close()
        kept = None
    kept = kept or _open(llm, shape)
    context, held = kept.context, kept.held
    batch = LlamaBatch(n_tokens=max(CHUNK, len(prompts)), embd=0, n_seq_max=1, verbose=False)
    vocab = llm.n_vocab()
    generator = torch.Generator().manual_seed(sampling.seed or 0)
    plain_greedy = sampling.greedy and sampling.repetition_penalty == 1.0
    slots = assign_slots(prompts, held)  # prompt -> its sequence in the context

    def pick(row: int, history: list[int]) -> int:
        values = np.ctypeslib.as_array(context.get_logits_ith(row), shape=(vocab,))
        if plain_greedy:  # no copy, no torch: a tenth of a step for 8 prompts
            return int(values.argmax())
        return pick_token(torch.from_numpy(values.copy()), sampling, history, generator)

    try:
        histories = [list(p) for p in prompts]
        made = [0] * len(prompts)
        pending = _prefill(
            context, batch, prompts, limits, slots, held, lambda row, i: pick(row, histories[i])
        )
        while pending:
            live = []
            for i, token in pending.items():
                made[i] += 1
                histories[i].append(token)
                stop = on_token(i, token)
                if not stop and token not in eos_token_ids and made[i] < limits[i]:
                    live.append(i)
            if not live:
                break
            batch.reset()
            for i in live:
                _append(batch, histories[i][-1], len(histories[i]) - 1, slots[i], logits=True)
                held[slots[i]].append(histories[i][-1])
            context.decode(batch)
            pending = {i: pick(row, histories[i]) for row, i in enumerate(live)}
    except BaseException:
        kept.close()
        raise
    finally:
        batch.close()
    return kept


def _append(batch, token: int, position: int, seq: int, logits: bool) -> None:
    """One token of sequence `seq` at `position`, at the end of `batch`."""
    row = batch.batch.n_tokens
    batch.batch.token[row] = token
    batch.batch.pos[row] = position
    batch.batch.seq_id[row][0] = seq
    batch.batch.n_seq_id[row] = 1
    batch.batch.logits[row] = logits
    batch.batch.n_tokens = row + 1


UNEVEN = 2.0
"""A KV cache per sequence holds the longest sequence's cells for every one: used while that
is at most this many times the cells all sequences need, else one cache for all."""


def kv_unified(needs: Sequence[int]) -> bool:
    """Whether the sequences (`needs`: prompt and new tokens each) share one KV cache.

    In one cache every token attends over every sequence's cells, masked: 8 chat prompts of
    128 tokens on a Zen 4 (smollm2 bf16) ran at 186 tok/s (median of 6) against 211 with a
    cache per sequence, 1.11-1.17x in each of 6 alternating rounds; and 5 of the 8 answers
    came out the same as each prompt alone against 3 (tied logits break either way)."""
    return len(needs) < 2 or len(needs) * max(needs) > UNEVEN * sum(needs)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens `a` and `b` start with in common."""
    length = 0
    for x, y in zip(a, b, strict=False):  # the shorter one ends it
        if x != y:
            break
        length += 1
    return length


def assign_slots(prompts: Sequence[Sequence[int]], held: Sequence[Sequence[int]]) -> list[int]:
    """The sequence of the context each prompt decodes in: longest reuse first, each prompt to
    the free sequence whose cache holds the longest start of it (ties: the lower numbers)."""
    pairs = sorted(
        (-common_prefix(prompt, tokens), i, slot)
        for i, prompt in enumerate(prompts)
        for slot, tokens in enumerate(held)
    )
    slots: dict[int, int] = {}
    taken: set[int] = set()
    for _, i, slot in pairs:
        if i not in slots and slot not in taken:
            slots[i] = slot
            taken.add(slot)
    return [slots[i] for i in range(len(prompts))]


def shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least its last token of its own (whose
    logits give its first new token)."""
    if len(prompts) < 2:
        return 0
    shortest = min(len(p) for p in prompts)
    for length in range(shortest - 1):
        if len({p[length] for p in prompts}) > 1:
            return length
    return max(shortest - 1, 0)


def _prefill(
    context,
    batch,
    prompts: Sequence[Sequence[int]],
    limits: Sequence[int],
    slots: list[int],
    held: list[list[int]],
    pick: Callable[[int, int], int],
) -> dict[int, int]:
    """Every prompt's tokens in its sequence's cache; returns prompt -> its first new token.

    What a sequence's cache already holds of its prompt stays (all but the last token, whose
    logits give the first new one); the rest of the cache goes. The tokens all prompts share
    are then decoded at most once and copied to each sequence that lacks them; the rest goes
    several prompts to a llama_decode (up to CHUNK tokens: one larger matrix product instead
    of one per prompt), a longer one in CHUNK-sized pieces."""
    live = [i for i in range(len(prompts)) if limits[i] > 0]  # else: no room, no token
    reuse = {i: min(common_prefix(held[slots[i]], prompts[i]), len(prompts[i]) - 1) for i in live}
    for i, slot in enumerate(slots):
        keep = reuse.get(i, 0)
        context.kv_cache_seq_rm(slot, keep, -1)
        del held[slot][keep:]
    pending: dict[int, int] = {}
    rows: list[tuple[int, int]] = []  # (row in the batch, prompt) whose logits are read

    def flush() -> None:
        if batch.batch.n_tokens:
            context.decode(batch)
            for row, i in rows:
                pending[i] = pick(row, i)
            rows.clear()
            batch.reset()

    def add(i: int, start: int, end: int, wants_logits: bool) -> None:
        """Prompt i's tokens start..end into its sequence."""
        tokens = prompts[i][start:end]
        for offset in range(0, len(tokens), CHUNK):
            chunk = tokens[offset : offset + CHUNK]
            if batch.batch.n_tokens + len(chunk) > CHUNK:
                flush()
            for j, token in enumerate(chunk):
                _append(batch, token, start + offset + j, slots[i], logits=False)
        held[slots[i]].extend(tokens)
        if wants_logits:
            batch.batch.logits[batch.batch.n_tokens - 1] = True
            rows.append((batch.batch.n_tokens - 1, i))

    batch.reset()
    shared = shared_prefix([prompts[i] for i in live])
    lacking = [i for i in live if reuse[i] < shared]
    if lacking:
        source = max(live, key=lambda i: reuse[i])
        if reuse[source] < shared:
            add(source, reuse[source], shared, wants_logits=False)
            flush()
            reuse[source] = shared
        for i in lacking:
            if i == source:
                continue
            # all the source holds, whole (a cache per sequence copies no less), then cut
            context.kv_cache_seq_rm(slots[i], 0, -1)
            context.kv_cache_seq_cp(slots[source], slots[i], -1, -1)
            context.kv_cache_seq_rm(slots[i], shared, -1)
            held[slots[i]][:] = prompts[i][:shared]
            reuse[i] = shared
    for i in live:
        add(i, reuse[i], len(prompts[i]), wants_logits=True)
    flush()
    return pending
