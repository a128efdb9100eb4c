"""Log-probabilities of a completion's tokens under a decoder: what OpenAI's `logprobs` report.

The engines stream token ids, not their distributions, and llama.cpp or CTranslate2 keep
theirs to themselves; so a completion is scored once it is written, in one forward pass of
the fp32 torch model over prompt + completion: preprocess (the prompt's ids as generation
saw them, the completion as the tokenizer splits it) -> _forward (log-softmax at each
completion position) -> postprocess (each token's log-probability, the `top` most likely
tokens there, and where the token starts in the completion). They are the model's own
probabilities, before temperature or top-p, on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plmkit import loading
from plmkit.config import GenerateConfig
from plmkit.pipelines.generate import prompt_ids


@dataclass
class TokenLogprob:
    token: str
    """The token as text (a multi-byte character split over tokens shows as U+FFFD)."""
    token_id: int
    logprob: float
    top: list[tuple[str, float]]
    """The `top` most likely tokens at this position and their log-probabilities."""
    offset: int
    """Where the token starts in the completion, in characters."""


def completion_logprobs(
    prompt: str | list[dict], completion: str, model: str = "smollm2", top: int = 0
) -> list[TokenLogprob]:
    """Per token of `completion`, its log-probability after `prompt` (a text, or chat
    messages) and the `top` likeliest alternatives."""
    tokenizer = loading.cached("tokenizer", model)
    context, new = preprocess(prompt, completion, tokenizer)
    if not new:
        return []
    logprobs = _forward(loading.cached("causal_lm", model), context, new)
    return postprocess(logprobs, new, tokenizer, top)


def preprocess(
    prompt: str | list[dict], completion: str, tokenizer: Any
) -> tuple[list[int], list[int]]:
    """(the prompt's ids, as generation built them; the completion's ids)."""
    context = prompt_ids(prompt, tokenizer, GenerateConfig())
    return context, tokenizer(completion, add_special_tokens=False)["input_ids"]


def _forward(lm: Any, context: list[int], new: list[int]) -> Any:
    """(N, V) log-probabilities at the N completion positions."""
    import torch

    with torch.inference_mode():
        logits = lm(input_ids=torch.tensor([context + new])).logits  # (1, P + N, V)
    return logits[0, len(context) - 1 : -1].float().log_softmax(-1)  # (N, V)


def postprocess(logprobs: Any, new: list[int], tokenizer: Any, top: int) -> list[TokenLogprob]:
    import torch

    chosen = logprobs.gather(1, torch.tensor(new)[:, None])[:, 0].tolist()  # (N,)
    best = logprobs.topk(top, dim=-1) if top else None  # (N, top)
    scored, offset = [], 0
    for position, token_id in enumerate(new):
        text = tokenizer.decode([token_id])
        alternatives = []
        if best is not None:
            pairs = zip(
                best.indices[position].tolist(), best.values[position].tolist(), strict=True
            )
            alternatives = [(tokenizer.decode([i]), v) for i, v in pairs]
        scored.append(TokenLogprob(text, token_id, chosen[position], alternatives, offset))
        offset += len(text)
    return scored
