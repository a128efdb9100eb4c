"""Packed blocks vs padded lines: MLM training throughput on the same corpus, same model.

Three ways to batch the movie-snippets corpus for masked-LM training, measured in one process
on one model with one optimizer, the same `MlmCollator` and the same sparse MLM loss:
- packed: `pack_corpus` blocks of `block_size` tokens, every slot a real token;
- padded per line (the baseline): one line per row, padded to `block_size`, as a per-line
  pipeline with `padding="max_length"` does;
- dynamic padding: one line per row, padded to the longest line of its (random) batch.
Steps of the three arms are interleaved (packed, padded, dynamic, packed, ...), so a change of
load on a shared machine hits all three alike. Throughput is real (non-pad) tokens per second
of training step (forward, backward, optimizer), after warm-up steps that are not timed.
"""

from __future__ import annotations

import random
import time
from typing import Any

import torch
import torch.nn.functional as F

from plmkit import loading
from plmkit.bench.measure import Row
from plmkit.bench.options import BenchOptions
from plmkit.lm.collator import MlmCollator
from plmkit.lm.metrics import masked_logits
from plmkit.lm.packing import pack_corpus, padded_baseline_stats

ARMS = ("packed", "padded per line", "dynamic padding")


def _line_features(texts: list[str], tokenizer: Any, block_size: int, pad: bool) -> list[dict]:
    encoded = tokenizer(texts, truncation=True, max_length=block_size)["input_ids"]
    features = []
    for ids in encoded:
        real = len(ids)
        if pad:
            ids = ids + [tokenizer.pad_token_id] * (block_size - real)
        features.append({"input_ids": ids, "attention_mask": [1] * real + [0] * (len(ids) - real)})
    return features


def measure_packing(
    texts: list[str],
    model_name: str = "minilm",
    *,
    block_size: int = 128,
    batch_size: int = 32,
    steps: int = 8,
    warmup: int = 2,
    bf16: bool | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Real tokens per second of MLM training for each arm (see the module docstring)."""
    from plmkit.training import decide_bf16

    use_bf16, dtype_reason = decide_bf16(bf16)
    tokenizer = loading.load_tokenizer(model_name)
    model, _ = loading.load_for_mlm_training(model_name)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    collator = MlmCollator(tokenizer, seed=seed)
    rng = random.Random(seed)

    packed = pack_corpus(texts, tokenizer, block_size).to_dataset("mlm")
    arms = {
        "packed": [packed[i] for i in range(len(packed))],
        "padded per line": _line_features(texts, tokenizer, block_size, pad=True),
        "dynamic padding": _line_features(texts, tokenizer, block_size, pad=False),
    }
    seconds = dict.fromkeys(ARMS, 0.0)
    tokens = dict.fromkeys(ARMS, 0)
    slots = dict.fromkeys(ARMS, 0)
    for step in range(warmup + steps):
        for arm in ARMS:
            batch = collator(rng.sample(arms[arm], batch_size))
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits, targets = masked_logits(model, batch)  # (P, V), (P,)
            F.cross_entropy(logits.float(), targets).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= warmup:
                seconds[arm] += time.perf_counter() - start
                tokens[arm] += int(batch["attention_mask"].sum())
                slots[arm] += int(batch["attention_mask"].numel())
    results = {
        arm: {
            "tokens_per_second": round(tokens[arm] / seconds[arm], 1),
            "real_tokens": tokens[arm],
            "token_slots": slots[arm],
            "padding_fraction": round(1 - tokens[arm] / slots[arm], 4),
            "seconds": round(seconds[arm], 2),
        }
        for arm in ARMS
    }
    packed_speed = results["packed"]["tokens_per_second"]
    return {
        "model": model_name,
        "texts": len(texts),
        "block_size": block_size,
        "batch_size": batch_size,
        "steps_per_arm": steps,
        "dtype": dtype_reason,
        "corpus_padding_at_block_size": padded_baseline_stats(texts, tokenizer, block_size),
        "arms": results,
        "packed_vs_padded_per_line": round(
            packed_speed / results["padded per line"]["tokens_per_second"], 2
        ),
        "packed_vs_dynamic_padding": round(
            packed_speed / results["dynamic padding"]["tokens_per_second"], 2
        ),
    }


def scenario(options: BenchOptions) -> list[Row]:
    """`plm bench pretrain`: packed vs padded-per-line MLM training on movie-snippets."""
    from plmkit.data import load_texts

    texts = load_texts("movie-snippets")
    if options.quick:
        texts = texts[:2000]
    # 5 timed steps after 1: fixed-shape steps vary little, and 8 after 2 took 95 s of a Zen 3's
    # `plm bench all` (`bench/pretrain_packing.py` still times 8 by default)
    measured = measure_packing(texts, options.encoder, steps=2 if options.quick else 5, warmup=1)
    arms = measured["arms"]
    baseline = "MLM training, padded per line to 128"
    rows = [
        Row(
            "pretrain",
            baseline,
            arms["padded per line"]["tokens_per_second"],
            "tokens/s",
            baseline=True,
            note=f"{arms['padded per line']['padding_fraction']:.0%} of slots are padding",
        ),
        Row(
            "pretrain",
            "MLM training, dynamic padding (random batches)",
            arms["dynamic padding"]["tokens_per_second"],
            "tokens/s",
            vs=baseline,
            note=f"{arms['dynamic padding']['padding_fraction']:.0%} of slots are padding",
        ),
        Row(
            "pretrain",
            "plmkit pretrain: packed 128-token blocks",
            arms["packed"]["tokens_per_second"],
            "tokens/s",
            vs=baseline,
            note=f"{measured['dtype']}; no padding",
        ),
    ]
    return rows
