"""Masked-language-model pre-training, BERT's objective, on your own text.

Read top to bottom: split the corpus (held-out = the fine-tuning validation + test rows), pick
the tokenizer (the model's, or a new WordPiece one), pack the texts into full blocks, load the
model (continued: the checkpoint plus, when it has none, a fresh MLM head tied to the word
embeddings; from scratch: a config), score the held-out blocks, train, score them again on the
same masks, save a model `plm fill-mask` and `plm finetune` can load.

Masking is `MlmCollator`: 15% of non-special tokens picked, 80% [MASK] / 10% random / 10% kept,
optionally whole words; the split it actually applied during training goes in the results.
The loss is computed at the picked positions only (`lm.metrics.masked_logits`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch.nn.functional as F

from plmkit import loading
from plmkit.config import PretrainConfig
from plmkit.errors import InvalidInputError
from plmkit.lm.collator import MlmCollator
from plmkit.lm.metrics import masked_lm_metrics, masked_logits, pseudo_perplexity
from plmkit.recipes import pretrain_common as common
from plmkit.recipes.model_factory import parameter_count
from plmkit.recipes.pretrain_common import PretrainResult
from plmkit.recipes.pretrain_corpus import Corpus, pack
from plmkit.training import AtomicTrainer, save_model_dir
from plmkit.training.distributed import is_main_process, world
from plmkit.training.events import OnEvent, ScoresAfter, ScoresBefore, Stage, ignore


class MlmTrainer(AtomicTrainer):
    """`AtomicTrainer` whose loss scores the MLM head at the picked positions only."""

    loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by accumulation

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logits, targets = masked_logits(model, inputs)  # (P, V), (P,)
        loss = F.cross_entropy(logits.float(), targets)
        return (loss, None) if return_outputs else loss


def evaluate_mlm(
    model: Any,
    tokenizer: Any,
    corpus: Corpus,
    texts: list[str],
    config: PretrainConfig,
    bf16: bool,
) -> dict[str, Any]:
    """Masked-token accuracy / loss on the held-out blocks, and pseudo-perplexity on texts."""
    scores = masked_lm_metrics(
        model,
        corpus.held_out.to_dataset("mlm"),
        tokenizer,
        seed=config.seed,
        mlm_probability=config.mlm_probability,
        whole_word=config.whole_word,
        batch_size=config.batch_size,
        bf16=bf16,
    )
    if config.pseudo_perplexity_texts:
        scores["pseudo_perplexity"] = pseudo_perplexity(
            model,
            tokenizer,
            texts[: config.pseudo_perplexity_texts],
            max_length=config.block_size,
            bf16=bf16,
        )
    return scores


def default_probes(texts: list[str], mask: str, n: int = 3) -> list[str]:
    """The first `n` held-out texts of 3+ words with their middle word masked."""
    probes = []
    for text in texts:
        words = text.split()
        if len(words) >= 3:
            words[len(words) // 2] = mask
            probes.append(" ".join(words))
        if len(probes) == n:
            break
    return probes


def fill_top(model: Any, tokenizer: Any, text: str, k: int = 5) -> list[str]:
    """The model in memory's top-k tokens for the first [MASK] of `text` (the probes'
    "before", taken before the first step)."""
    from plmkit.pipelines import fill_mask

    was_training = model.training
    model.eval()
    try:
        inputs, positions = fill_mask.preprocess(text, tokenizer)
        top = fill_mask._forward(model, inputs, positions, k)
        found = fill_mask.postprocess(inputs["input_ids"][0], positions, top, tokenizer)
    finally:
        model.train(was_training)
    return [c.token for c in found[0]] if found else []


def pretrain_mlm(config: PretrainConfig, on_event: OnEvent | None = None) -> PretrainResult:
    """Pre-train (or continue pre-training) an encoder with MLM; see the module docstring.

    `on_event` receives `training.events`: a `Stage` for each phase, `ScoresBefore`, the
    Trainer's events (`training.ProgressCallback`), `ScoresAfter`.
    """
    emit = on_event or ignore
    if any("[MASK]" not in probe for probe in config.probes):
        raise InvalidInputError(
            "every --probe for mlm needs a [MASK] to fill", 'e.g. --probe "this movie was [MASK] ."'
        )
    start = common.begin(config, "mlm", emit)
    split, tokenizer, bf16 = start.split, start.tokenizer, start.bf16

    emit(Stage("loading the model"))
    if config.from_scratch:
        model = common.build_from_scratch(config, "mlm", tokenizer)
        new_head = ["all weights (from scratch)"]
    else:
        model, new_head = loading.load_for_mlm_training(start.spec)
    emit(Stage("packing the corpus"))
    corpus = pack(split, tokenizer, config, model.config.max_position_embeddings)

    emit(Stage("scoring the held-out text before training"))
    before = evaluate_mlm(model, tokenizer, corpus, split.held_out, config, bf16)
    emit(ScoresBefore(before))
    probes = config.probes or default_probes(split.held_out, tokenizer.mask_token)
    top_before = [fill_top(model, tokenizer, text) for text in probes]

    collator = MlmCollator(
        tokenizer,
        mlm_probability=config.mlm_probability,
        whole_word=config.whole_word,
        seed=config.seed + world().rank,  # each rank its own masks
    )
    training = common.run_trainer(
        MlmTrainer,
        model,
        tokenizer,
        corpus.train.to_dataset("mlm"),
        collator,
        config,
        bf16=bf16,
        resume_from=start.resume_from,
        on_event=on_event,
    )
    if not is_main_process():  # under torchrun rank 0 scores, saves and reports
        return PretrainResult(out=Path(config.out), results={"training": training})

    emit(Stage("scoring the held-out text after training"))
    after = evaluate_mlm(model, tokenizer, corpus, split.held_out, config, bf16)
    emit(ScoresAfter(after))
    results = common.results_record(
        "mlm",
        config,
        start,
        corpus,
        architecture={
            "class": type(model).__name__,
            "parameters": parameter_count(model),
            "from_scratch": config.from_scratch,
            "new_weights": new_head,
            "decoder_tied_to_word_embeddings": model.get_output_embeddings().weight
            is model.get_input_embeddings().weight,
        },
        masking_during_training=collator.stats.as_dict(),
        training=training,
        before=before,
        after=after,
    )
    out = save_model_dir(model.eval(), tokenizer, config.out, results)

    from plmkit.pipelines.fill_mask import fill_mask

    results["probes"] = [
        {
            "text": text,
            "top": [c.token for c in fill_mask(text, str(out), top_k=5)[0]],
            "top_before": before_text,
        }
        for text, before_text in zip(probes, top_before, strict=True)
    ]
    results["wall_seconds"] = round(time.perf_counter() - start.started, 1)
    common.write_results(out, results)
    return PretrainResult(out=out, results=results)
