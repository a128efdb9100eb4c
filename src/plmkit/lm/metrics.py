"""Language-model metrics for pre-training: CLM perplexity, MLM masked-token accuracy and loss,
and MLM pseudo-perplexity. Separate from `plmkit.metrics` (the classification metrics of
fine-tuning); each function here takes a model and held-out data and returns a plain dict for
the results JSON.

- `perplexity`: exp of the mean next-token loss over every predicted token of packed blocks.
- `masked_lm_metrics`: held-out blocks masked by `MlmCollator` with a fixed seed, so the
  figures before and after training are on the very same masks; accuracy is argmax == original
  over every picked token (also reported for the [MASK]-replaced ones alone, the case
  fill-mask sees), loss the mean cross-entropy over picked tokens, plus the measured split.
- `pseudo_perplexity` (Salazar et al., 2020): each token of a text masked in turn, scored by
  the MLM head; exp of minus the mean log-probability. One forward pass per token, so it runs
  on a bounded number of texts.

`masked_logits` computes the MLM head only at the picked positions (about 15% of them): the
vocabulary projection is the most expensive matmul of a small BERT, so this roughly halves the
cost of an MLM training step. Training (`recipes/pretrain_mlm.py`) uses it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F

from plmkit.lm.collator import MlmCollator
from plmkit.lm.masking import IGNORE_INDEX
from plmkit.validation import require_texts


def _autocast(model: Any, bf16: bool) -> Any:
    if not bf16:
        return nullcontext()
    return torch.autocast(model.device.type, dtype=torch.bfloat16)


def _sparse_head(model: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The MLM head as hidden (P, H) -> logits (P, V), for the architectures we know."""
    model_type = model.config.model_type
    if model_type == "bert":
        return model.cls
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        return model.lm_head
    if model_type == "distilbert":
        return lambda hidden: model.vocab_projector(
            model.vocab_layer_norm(model.activation(model.vocab_transform(hidden)))
        )
    return None


def masked_logits(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """MLM logits (P, V) and targets (P,) at the P positions whose label is not -100."""
    labels = batch["labels"]  # (B, T)
    picked = labels != IGNORE_INDEX  # (B, T)
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "special_tokens_mask")}
    # under DDP (torchrun) the forward must go through the wrapper, which syncs gradients: no
    # reaching into its module for the head, full logits then
    head = None if hasattr(model, "module") else _sparse_head(model)
    if head is None:  # unknown layout or wrapped: full logits, then keep the picked rows
        return model(**inputs).logits[picked], labels[picked]
    hidden = model.base_model(**inputs)[0]  # (B, T, H)
    return head(hidden[picked]), labels[picked]  # (P, V), (P,)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def perplexity(
    model: Any, blocks: torch.Tensor, *, batch_size: int = 8, bf16: bool = False
) -> dict[str, float]:
    """Causal-LM loss and perplexity over packed blocks (N, L): every block predicts L-1 tokens."""
    was_training = model.training
    model.eval()
    total_loss, total_tokens = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        ids = blocks[start : start + batch_size].to(model.device)  # (B, L)
        with _autocast(model, bf16):
            loss = model(input_ids=ids, labels=ids).loss  # mean over B * (L - 1) tokens
        n = ids.shape[0] * (ids.shape[1] - 1)
        total_loss += float(loss) * n
        total_tokens += n
    model.train(was_training)
    mean = total_loss / max(total_tokens, 1)
    return {
        "loss": round(mean, 4),
        "perplexity": round(math.exp(min(mean, 50.0)), 3),
        "n_tokens": total_tokens,
        "n_blocks": int(len(blocks)),
    }


@torch.inference_mode()
def masked_lm_metrics(
    model: Any,
    dataset: Sequence[dict[str, torch.Tensor]],
    tokenizer: Any,
    *,
    seed: int = 0,
    mlm_probability: float = 0.15,
    whole_word: bool = False,
    batch_size: int = 32,
    bf16: bool = False,
) -> dict[str, Any]:
    """Masked-token accuracy and loss on `dataset` (items as `PackedDataset(task="mlm")` gives),
    masked the same way for the same seed; also the measured [MASK] / random / kept split."""
    was_training = model.training
    model.eval()
    collator = MlmCollator(
        tokenizer, mlm_probability=mlm_probability, whole_word=whole_word, seed=seed
    )
    loss_sum, correct, n, mask_correct, n_mask = 0.0, 0, 0, 0, 0
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        shown = batch["input_ids"]  # (B, T) what the model sees
        with _autocast(model, bf16):
            logits, targets = masked_logits(model, _to(batch, model.device))  # (P, V), (P,)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, targets, reduction="sum"))
        hits = logits.argmax(-1) == targets  # (P,)
        was_masked = (shown[batch["labels"] != IGNORE_INDEX] == tokenizer.mask_token_id).to(
            hits.device
        )  # (P,)
        correct += int(hits.sum())
        n += int(targets.numel())
        mask_correct += int(hits[was_masked].sum())
        n_mask += int(was_masked.sum())
    model.train(was_training)
    split = collator.stats.as_dict()
    return {
        "loss": round(loss_sum / max(n, 1), 4),
        "accuracy": round(correct / max(n, 1), 4),
        "mask_token_accuracy": round(mask_correct / max(n_mask, 1), 4),
        "n_predicted": n,
        "n_blocks": len(dataset),
        "masking": {k: round(v, 4) if isinstance(v, float) else v for k, v in split.items()},
    }


@torch.inference_mode()
def pseudo_perplexity(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 64,
    bf16: bool = False,
) -> dict[str, float]:
    """Pseudo-perplexity of an MLM on `texts`: every non-special token masked once, alone."""
    texts = require_texts(list(texts), "text")
    was_training = model.training
    model.eval()
    encoded = tokenizer(
        texts, truncation=True, max_length=max_length, return_special_tokens_mask=True
    )
    rows: list[tuple[list[int], int]] = []  # (ids with one [MASK], masked position)
    for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"], strict=True):
        rows += [(ids, i) for i, is_special in enumerate(special) if not is_special]
    rows.sort(key=lambda row: len(row[0]))  # similar lengths share a batch: little padding
    log_prob_sum = 0.0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = len(chunk[-1][0])
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id)  # (B, T)
        attention_mask = torch.zeros_like(input_ids)
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        for b, (ids, position) in enumerate(chunk):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            attention_mask[b, : len(ids)] = 1
            labels[b, position] = ids[position]
            input_ids[b, position] = tokenizer.mask_token_id
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        with _autocast(model, bf16):
            logits, targets = masked_logits(model, _to(batch, model.device))  # (B, V), (B,)
        log_probs = logits.float().log_softmax(-1).gather(1, targets[:, None])  # (B, 1)
        log_prob_sum += float(log_probs.sum())
    model.train(was_training)
    mean = -log_prob_sum / max(len(rows), 1)
    return {
        "pseudo_perplexity": round(math.exp(min(mean, 50.0)), 3),
        "mean_negative_log_likelihood": round(mean, 4),
        "n_tokens": len(rows),
        "n_texts": len(texts),
    }
