"""The next-token choice for engines that hand us raw logits (torch, llama.cpp batches).

Hugging Face's rules, in its order: repetition penalty, then greedy argmax, or temperature,
top-k and top-p (nucleus) before drawing from the softmax with a seeded generator.
"""

from __future__ import annotations

import torch

from plmkit.backends.base import Sampling


def pick_token(
    logits: torch.Tensor, sampling: Sampling, history: list[int], generator: torch.Generator
) -> int:
    """(V,) next-token logits -> a token id, with HF's penalty/temperature/top-k/top-p rules."""
    logits = logits.float()
    if sampling.repetition_penalty != 1.0 and history:
        seen = torch.tensor(sorted(set(history)))
        scores = logits[seen]
        logits[seen] = torch.where(
            scores < 0, scores * sampling.repetition_penalty, scores / sampling.repetition_penalty
        )
    if sampling.greedy:
        return int(logits.argmax())
    logits = logits / sampling.temperature
    if 0 < sampling.top_k < logits.numel():
        kth = torch.topk(logits, sampling.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        ordered, order = torch.sort(logits, descending=True)
        mass = ordered.softmax(-1).cumsum(-1)
        drop = mass - ordered.softmax(-1) > sampling.top_p  # keep the token that crosses p
        logits[order[drop]] = float("-inf")
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))
