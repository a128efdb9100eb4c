"""Causal-language-model pre-training, GPT's objective, on your own text.

Read top to bottom: split the corpus (held-out = the fine-tuning validation + test rows, or a
seeded share of unlabelled documents), pick the tokenizer (the model's, or a new byte-level BPE
one), pack the texts into full blocks with an end-of-text token between documents, load the
decoder (continued) or build one from a config (from scratch), measure held-out perplexity,
train, measure it again on the same blocks, save a model `plm generate` can load, and sample a
few continuations from it for the results JSON.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from plmkit import loading
from plmkit.config import GenerateConfig, PretrainConfig
from plmkit.lm.metrics import perplexity
from plmkit.recipes import pretrain_common as common
from plmkit.recipes.model_factory import parameter_count
from plmkit.recipes.pretrain_common import PretrainResult
from plmkit.recipes.pretrain_corpus import pack
from plmkit.training import AtomicTrainer, save_model_dir
from plmkit.training.distributed import is_main_process
from plmkit.training.events import OnEvent, ScoresAfter, ScoresBefore, Stage, ignore

PROBE_BACKEND = "torch-fp32"  # the saved model as `plm generate` loads it; no engine calibration
SAMPLE = GenerateConfig(max_new_tokens=40, strategy="sample", temperature=0.8, top_k=40)


def default_probes(texts: list[str], n: int = 3, words: int = 3) -> list[str]:
    """The first `words` words of the first `n` held-out texts longer than that."""
    return [" ".join(t.split()[:words]) for t in texts if len(t.split()) > words][:n]


def sample_in_memory(model: Any, tokenizer: Any, prompt: str, seed: int) -> str:
    """A sampled continuation (SAMPLE's settings) from the model before its first step."""
    import torch

    inputs = tokenizer(prompt, return_tensors="pt")
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            ids = model.generate(
                **inputs,
                do_sample=True,
                temperature=SAMPLE.temperature,
                top_k=SAMPLE.top_k,
                max_new_tokens=SAMPLE.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
    finally:
        model.train(was_training)
    return tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def pretrain_clm(config: PretrainConfig, on_event: OnEvent | None = None) -> PretrainResult:
    """Pre-train (or continue pre-training) a decoder with CLM; see the module docstring.

    `on_event` receives `training.events`: a `Stage` for each phase, `ScoresBefore`, the
    Trainer's events (`training.ProgressCallback`), `ScoresAfter`.
    """
    from transformers import default_data_collator

    emit = on_event or ignore
    start = common.begin(config, "clm", emit)
    split, tokenizer, bf16 = start.split, start.tokenizer, start.bf16

    emit(Stage("loading the model"))
    if config.from_scratch:
        model = common.build_from_scratch(config, "clm", tokenizer)
    else:
        model = loading.load_for_clm_training(start.spec)
    emit(Stage("packing the corpus"))
    positions = getattr(model.config, "max_position_embeddings", None) or model.config.n_positions
    corpus = pack(split, tokenizer, config, positions)
    held_out = corpus.held_out.input_ids  # (N, L)

    emit(Stage("measuring held-out perplexity before training"))
    eval_batch = max(1, config.batch_size // 2)
    before = perplexity(model, held_out, batch_size=eval_batch, bf16=bf16)
    emit(ScoresBefore(before))
    prompts = config.probes or default_probes(split.held_out)
    before_texts = [
        sample_in_memory(model, tokenizer, p, config.seed + i) for i, p in enumerate(prompts)
    ]

    training = common.run_trainer(
        AtomicTrainer,
        model,
        tokenizer,
        corpus.train.to_dataset("clm"),
        default_data_collator,
        config,
        bf16=bf16,
        resume_from=start.resume_from,
        on_event=on_event,
    )
    if not is_main_process():  # under torchrun rank 0 scores, saves and reports
        return PretrainResult(out=Path(config.out), results={"training": training})

    emit(Stage("measuring held-out perplexity after training"))
    after = perplexity(model, held_out, batch_size=eval_batch, bf16=bf16)
    emit(ScoresAfter(after))
    results = common.results_record(
        "clm",
        config,
        start,
        corpus,
        architecture={
            "class": type(model).__name__,
            "parameters": parameter_count(model),
            "from_scratch": config.from_scratch,
        },
        training=training,
        before=before,
        after=after,
    )
    out = save_model_dir(model.eval(), tokenizer, config.out, results)

    from plmkit.pipelines.generate import generate

    results["probes"] = []
    for i, prompt in enumerate(prompts):
        sample = replace(SAMPLE, seed=config.seed + i)  # one seed each: no shared random draws
        completion = generate(prompt, str(out), sample, backend=PROBE_BACKEND).text
        results["probes"].append(
            {"prompt": prompt, "continuation": completion, "continuation_before": before_texts[i]}
        )
    results["wall_seconds"] = round(time.perf_counter() - start.started, 1)
    common.write_results(out, results)
    return PretrainResult(out=out, results=results)
