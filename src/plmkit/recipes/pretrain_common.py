"""What MLM and CLM pre-training share around their own steps: the run's start (`--resume`
checks, dtype, seed, the corpus split, the tokenizer), the Trainer run (through
`plmkit.training`) and the results record. The corpus itself is `pretrain_corpus`.

The tokenizer, when trained, sees only the training texts of the split (on a streamed corpus,
rank 0 trains it and hands it to the other ranks).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from plmkit import loading
from plmkit.config import PretrainConfig
from plmkit.errors import CheckpointError
from plmkit.paths import RESULTS_FILE, write_json_atomic
from plmkit.recipes.model_factory import scratch_model
from plmkit.recipes.pretrain_corpus import Corpus, TextSplit, corpus_record, split_texts
from plmkit.recipes.pretrain_stream import StreamedSplit, should_stream, split_files
from plmkit.registry import ModelSpec, resolve
from plmkit.training import (
    AtomicTrainer,
    ProgressCallback,
    StepEvents,
    checkpoints,
    decide_bf16,
    resume_checkpoint,
    run_record,
    total_steps,
    training_arguments,
)
from plmkit.training.distributed import (
    barrier,
    broadcast_from_main,
    init_process_group,
    is_main_process,
)
from plmkit.training.events import OnEvent, Stage

DEFAULT_MODEL = {"mlm": "minilm", "clm": "smollm2"}
RUN_FILE = "pretrain_run.json"
# Settings a resumed run must share with the checkpoint it continues (epochs / max_steps may grow).
RESUME_MUST_MATCH = (
    "data",
    "text_column",
    "label_column",
    "model",
    "from_scratch",
    "arch",
    "size",
    "tokenizer",
    "train_tokenizer",
    "vocab_size",
    "block_size",
    "batch_size",
    "mlm_probability",
    "whole_word",
    "seed",
    "stream",
)
LEARNING_RATE = {"continued": 1e-4, "scratch": 1e-3}
CHECKPOINTS_PER_RUN = 4


@dataclass
class PretrainResult:
    out: Path
    """The saved model directory (also holds the checkpoints)."""
    results: dict[str, Any]
    """What was written to `out/plmkit.json`."""


def start_run(config: PretrainConfig, objective: str) -> str | None:
    """The checkpoint to resume from (None for a fresh run), after checking it belongs to this
    run; a fresh run first removes the checkpoints an earlier run left in `out`."""
    out = Path(config.out)
    resume_from = resume_checkpoint(out, config.resume)
    identity = {"objective": objective, **{k: getattr(config, k) for k in RESUME_MUST_MATCH}}
    if not is_main_process():  # under torchrun rank 0 checks and writes
        barrier()
        return resume_from
    if resume_from is None:
        for old in checkpoints(out):
            shutil.rmtree(old)
    elif (out / RUN_FILE).is_file():
        saved = json.loads((out / RUN_FILE).read_text())
        changed = [k for k in identity if saved.get(k) != identity[k]]
        if changed:
            raise CheckpointError(
                f"--resume: {changed[0]} was {saved.get(changed[0])!r} when {resume_from} was "
                f"written, now {identity[changed[0]]!r}",
                f"resume with the same {changed[0]}, or start afresh in another --out",
            )
    write_json_atomic(out / RUN_FILE, identity)
    barrier()
    return resume_from


@dataclass
class Start:
    """What a recipe knows once its preamble (`begin`) has run."""

    resume_from: str | None
    bf16: bool
    dtype_reason: str
    split: TextSplit | StreamedSplit
    tokenizer: Any
    tokenizer_info: dict[str, Any]
    spec: ModelSpec | None
    started: float
    """time.perf_counter() when the run began, for its wall time."""


def begin(config: PretrainConfig, objective: str, emit: OnEvent) -> Start:
    """Both recipes' first steps: validate, check --resume, pick the dtype, seed everything,
    split the corpus and choose the tokenizer."""
    from transformers import set_seed

    started = time.perf_counter()
    config.validate(objective)
    init_process_group()
    resume_from = start_run(config, objective)
    bf16, dtype_reason = decide_bf16(config.bf16)
    set_seed(config.seed)
    emit(Stage("reading the corpus"))
    streamed = should_stream(config)
    split = split_files(config) if streamed else split_texts(config)
    tokenizer, tokenizer_info = choose_tokenizer(
        config, objective, split.train, resume_from, from_main=streamed
    )
    return Start(
        resume_from=resume_from,
        bf16=bf16,
        dtype_reason=dtype_reason,
        split=split,
        tokenizer=tokenizer,
        tokenizer_info=tokenizer_info,
        spec=starting_spec(config, objective),
        started=started,
    )


def build_from_scratch(config: PretrainConfig, objective: str, tokenizer: Any) -> Any:
    """The `--from-scratch` model: `config`'s architecture and size, seeded."""
    return scratch_model(
        config.scratch_arch(objective),
        config.size,
        tokenizer,
        max_positions=max_positions(config),
        seed=config.seed,
    )


def choose_tokenizer(
    config: PretrainConfig,
    objective: str,
    train_texts: Sequence[str] | None,
    resume_from: str | None,
    *,
    from_main: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The tokenizer to train with, and a description of where it came from. `from_main`: a
    tokenizer to train is trained by rank 0 (the only one holding `train_texts`) and sent to
    every rank."""
    if not config.from_scratch:
        name = config.model or DEFAULT_MODEL[objective]
        return loading.load_tokenizer(name), {"source": name, "trained": False}
    if config.train_tokenizer:
        from plmkit.lm.tokenizer_training import kind_for_arch, train_tokenizer

        kind = kind_for_arch(config.scratch_arch(objective))
        if resume_from is not None:  # the checkpoint holds the tokenizer the run started with
            tokenizer = loading.load_tokenizer(resume_from)
        elif from_main:
            tokenizer = None
            if is_main_process():
                tokenizer = train_tokenizer(
                    train_texts, kind, config.vocab_size, model_max_length=max_positions(config)
                )
            tokenizer = broadcast_from_main(tokenizer)
        else:
            tokenizer = train_tokenizer(
                train_texts, kind, config.vocab_size, model_max_length=max_positions(config)
            )
        return tokenizer, {"source": "trained on the training texts", "kind": kind, "trained": True}
    name = config.tokenizer or DEFAULT_MODEL[objective]
    return loading.load_tokenizer(name), {"source": name, "trained": False}


def max_positions(config: PretrainConfig) -> int:
    """Position embeddings of a from-scratch model: room for generation past one block."""
    return max(512, config.block_size)


def run_trainer(
    trainer_class: type[AtomicTrainer],
    model: Any,
    tokenizer: Any,
    dataset: Any,
    collator: Any,
    config: PretrainConfig,
    *,
    bf16: bool,
    resume_from: str | None,
    on_event: OnEvent | None,
) -> dict[str, Any]:
    """Train with plmkit's shared Trainer plumbing; returns the training figures."""
    learning_rate = (
        config.learning_rate or LEARNING_RATE["scratch" if config.from_scratch else "continued"]
    )
    steps = config.max_steps or total_steps(len(dataset), config.batch_size, config.epochs)
    args = training_arguments(
        config.out,
        train_size=len(dataset),
        batch_size=config.batch_size,
        epochs=config.epochs,
        learning_rate=learning_rate,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        seed=config.seed,
        max_steps=config.max_steps,
        bf16=bf16,
        group_by_length=False,  # every block has the same length
        evaluate=False,  # held-out figures are taken before and after, not during
        save_steps=config.save_steps or max(1, -(-steps // CHECKPOINTS_PER_RUN)),
        remove_unused_columns=False,  # MlmCollator reads special_tokens_mask
    )
    progress = ProgressCallback(on_event)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[progress, StepEvents(on_event)],
    )
    output = trainer.train(resume_from_checkpoint=resume_from)
    figures_of_world = trainer.world_record
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "steps": trainer.state.global_step,
        "learning_rate": learning_rate,
        "resumed_from": resume_from,
        "train_loss": round(output.training_loss, 4),
        "last_logged_loss": losses[-1] if losses else None,
        "seconds_in_steps": round(progress.seconds, 2),
        "tokens_per_second": round(progress.tokens_per_second, 1) if progress.seconds else None,
        "samples_per_second": round(progress.samples_per_second, 2),
        "tokens_trained": progress.tokens,
        "distributed": figures_of_world,
        "log_history": trainer.state.log_history,
    }


def starting_spec(config: PretrainConfig, objective: str) -> ModelSpec | None:
    """The model to continue from; None when building one from scratch."""
    return None if config.from_scratch else resolve(config.model or DEFAULT_MODEL[objective])


def results_record(
    objective: str, config: PretrainConfig, start: Start, corpus: Corpus, **parts: Any
) -> dict[str, Any]:
    """The results JSON: provenance (training.run_record), the run's settings, tokenizer and
    corpus, plus the recipe's own `parts` (before / after, training figures...)."""
    record = run_record(
        seed=config.seed,
        spec=start.spec,
        data_hash=start.split.data_hash(),
        bf16=start.bf16,
        task=f"pretrain-{objective}",
        config=asdict(config),
        dtype_reason=start.dtype_reason,
        tokenizer={**start.tokenizer_info, "vocab_size": len(start.tokenizer)},
        corpus=corpus_record(start.split, corpus),
        **parts,
    )
    if config.from_scratch:
        arch = config.scratch_arch(objective)
        record["model"] = {"name": f"{arch}-{config.size}", "source": "scratch", "revision": None}
    record["wall_seconds"] = round(time.perf_counter() - start.started, 1)
    return record


def write_results(out: str | Path, record: dict[str, Any]) -> Path:
    """Write (or rewrite) `out/plmkit.json`."""
    return write_json_atomic(Path(out) / RESULTS_FILE, record)
