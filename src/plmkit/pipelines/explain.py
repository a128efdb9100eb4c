"""Which tokens drove a classifier's decision: integrated gradients on the word embeddings.

    explain(text, model, *, label=None, steps=32) -> Explanation
    explain([text, ...], model, ...)              -> list[Explanation]

preprocess (tokenize, cut at `max_tokens`; the baseline: every ordinary token replaced by
the reference token, special tokens kept) -> _forward (Captum's `LayerIntegratedGradients`
on the word-embedding layer, `steps` Gauss-Legendre points, with the convergence delta) ->
postprocess (one attribution per token: the embedding dimensions summed).

What is attributed is the logit of `label` (the predicted label when None), not its
probability: logits are what the network adds up, and integrated gradients' completeness
then reads plainly, `sum(attributions) = logit(text) - logit(baseline) + delta`, where
delta is the integration error Captum reports (more steps, smaller delta). Special tokens
keep their ids in the baseline, so their embeddings do not move and their attribution is 0;
positions and token types are added after the word embeddings and are the same in both.

Why the word embeddings and not the input ids: ids are integers, gradients need a
continuous input, so the path runs between the two embedding sequences (Captum's BERT
tutorial does the same). The reference token is [PAD] (else [MASK] or [UNK]); for a decoder
classifier it is never the config's pad id, because decoders find their last real token by
it. The model is the fp32 torch model (`loading.cached("classifier")`), whatever engine
serves `classify`: gradients need torch. Captum hooks the embedding layer for the call, so
calls on one process are serialised (`_LOCK`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload

from plmkit import loading
from plmkit.errors import BackendUnavailableError, InvalidInputError, WrongModelKindError
from plmkit.pipelines.checks import require_classifier
from plmkit.pipelines.classify import model_max_length
from plmkit.validation import require_texts

MAX_STEPS = 256
"""The most integration steps one explanation may take (each is a forward + backward)."""
MAX_TOKENS = 512
"""The longest input explained; longer texts are cut (`Explanation.truncated`)."""
_LOCK = threading.Lock()


@dataclass
class Explanation:
    text: str
    tokens: list[str]
    special: list[bool]
    """True where `tokens` holds a special token ([CLS], [SEP], ...): attribution 0."""
    attributions: list[float]
    """Per token: its share of `logit - baseline_logit` (embedding dimensions summed)."""
    label: str
    """The label explained (`label`, or the predicted one)."""
    predicted: str
    probabilities: dict[str, float]
    delta: float
    """Captum's convergence delta: sum(attributions) - (logit - baseline_logit)."""
    logit: float
    """The explained label's logit on the text."""
    baseline_logit: float
    """The same logit on the baseline (ordinary tokens replaced by `baseline_token`)."""
    baseline_token: str
    steps: int
    truncated: bool
    """True when the text was longer than the tokens explained."""
    method: str = "layer-integrated-gradients"

    def to_dict(self) -> dict:
        return asdict(self)


@overload
def explain(
    texts: str, model: str, *, label: str | None = ..., steps: int = ..., max_tokens: int = ...
) -> Explanation: ...


@overload
def explain(
    texts: Sequence[str],
    model: str,
    *,
    label: str | None = ...,
    steps: int = ...,
    max_tokens: int = ...,
) -> list[Explanation]: ...


def explain(
    texts: str | Sequence[str],
    model: str,
    *,
    label: str | None = None,
    steps: int = 32,
    max_tokens: int = 128,
) -> Explanation | list[Explanation]:
    """Per-token attribution of a fine-tuned classifier's `label` logit (default: the
    predicted label) for one text (-> Explanation) or several (-> a list, in order).

    `steps` (1..256): integration points, more is slower and closer (smaller delta);
    `max_tokens` (1..512, and the model's own limit): longer texts are cut."""
    items = require_texts(texts)
    try:
        label_names = require_classifier(model, "predict")
    except WrongModelKindError:
        raise WrongModelKindError(
            f"'{model}' is not a fine-tuned classifier, so it has no label to explain",
            "fine-tune one (plm finetune --model minilm --out runs/sentiment) and explain that",
        ) from None
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidInputError(
            f"steps must be between 1 and {MAX_STEPS}, got {steps}", "pass fewer steps (32)"
        )
    if not 1 <= max_tokens <= MAX_TOKENS:
        raise InvalidInputError(
            f"max_tokens must be between 1 and {MAX_TOKENS}, got {max_tokens}",
            f"pass max_tokens up to {MAX_TOKENS}",
        )
    if label is not None and label not in label_names:
        raise InvalidInputError(
            f"'{label}' is not one of the model's labels ({', '.join(label_names)})",
            "pass one of those labels, or none to explain the predicted one",
        )
    net = loading.cached("classifier", model)
    tokenizer = loading.cached("tokenizer", model)
    limit = min(max_tokens, model_max_length(tokenizer, net.config))
    reference = reference_id(tokenizer, net.config)
    results = []
    for text in items:
        encoding, truncated = preprocess(text, tokenizer, limit)
        found = _forward(net, encoding, reference, label, label_names, steps)
        results.append(postprocess(text, encoding, tokenizer, reference, truncated, found))
    return results[0] if isinstance(texts, str) else results


def reference_id(tokenizer: Any, config: Any) -> int:
    """The baseline's token: [PAD], else [MASK], [UNK]; never a decoder's pooling pad id."""
    avoid = config.pad_token_id if loading.model_kind(config) == "decoder" else None
    for candidate in (
        tokenizer.pad_token_id,
        tokenizer.mask_token_id,
        tokenizer.unk_token_id,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
    ):
        if candidate is not None and candidate != avoid:
            return int(candidate)
    return 0 if avoid != 0 else 1


def preprocess(text: str, tokenizer: Any, limit: int) -> tuple[dict, bool]:
    """The text's ids and special-tokens mask, cut at `limit` tokens; whether it was cut."""
    whole = len(tokenizer(text)["input_ids"])
    encoding = tokenizer(text, truncation=True, max_length=limit, return_special_tokens_mask=True)
    return encoding, whole > len(encoding["input_ids"])


@dataclass
class _Found:
    attributions: list[float]
    delta: float
    logits: list[float]
    baseline_logits: list[float]
    target: int
    label_names: list[str]
    steps: int


def _forward(
    net: Any,
    encoding: dict,
    reference: int,
    label: str | None,
    label_names: list[str],
    steps: int,
) -> _Found:
    import torch

    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise BackendUnavailableError(
            "explanations need Captum, which is not installed",
            "pip install 'plmkit[explain]' (or make setup)",
        ) from None
    input_ids = torch.tensor([encoding["input_ids"]])  # (1, T)
    special = torch.tensor([encoding["special_tokens_mask"]], dtype=torch.bool)  # (1, T)
    baseline = torch.where(special, input_ids, torch.full_like(input_ids, reference))  # (1, T)
    attention_mask = torch.ones_like(input_ids)

    def logits_of(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return net(input_ids=ids, attention_mask=mask.expand(ids.shape[0], -1)).logits  # (B, K)

    with _LOCK, torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            logits = logits_of(input_ids, attention_mask)[0]  # (K,)
            baseline_logits = logits_of(baseline, attention_mask)[0]  # (K,)
        target = label_names.index(label) if label is not None else int(logits.argmax())
        integrated = LayerIntegratedGradients(logits_of, net.get_input_embeddings())
        attributions, delta = integrated.attribute(
            input_ids,
            baselines=baseline,
            target=target,
            additional_forward_args=(attention_mask,),
            n_steps=steps,
            internal_batch_size=min(steps, 32),
            return_convergence_delta=True,
        )  # (1, T, H), (1,)
    per_token = attributions.sum(dim=-1)[0]  # (T,)
    return _Found(
        per_token.detach().double().tolist(),
        float(delta.detach()[0]),
        logits.tolist(),
        baseline_logits.tolist(),
        target,
        label_names,
        steps,
    )


def postprocess(
    text: str, encoding: dict, tokenizer: Any, reference: int, truncated: bool, found: _Found
) -> Explanation:
    import numpy as np

    logits = np.asarray(found.logits)
    shifted = np.exp(logits - logits.max())
    probabilities = shifted / shifted.sum()
    names = found.label_names
    return Explanation(
        text=text,
        tokens=tokenizer.convert_ids_to_tokens(list(encoding["input_ids"])),
        special=[bool(m) for m in encoding["special_tokens_mask"]],
        attributions=found.attributions,
        label=names[found.target],
        predicted=names[int(logits.argmax())],
        probabilities={n: round(float(p), 6) for n, p in zip(names, probabilities, strict=True)},
        delta=found.delta,
        logit=float(logits[found.target]),
        baseline_logit=float(found.baseline_logits[found.target]),
        baseline_token=tokenizer.convert_ids_to_tokens(reference),
        steps=found.steps,
        truncated=truncated,
    )
