"""Dataclass configs with documented fields: the one place an option is declared. The CLI
generates `plm finetune` / `plm pretrain` / `plm generate` options from these fields, their
defaults and docstrings (`plmkit.cli.options`).

Each config validates itself (`validate()`), so the CLI, the Python API and the server
reject bad values with the same one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from plmkit.errors import InvalidInputError
from plmkit.validation import require_positive, require_range


@dataclass
class GenerateConfig:
    """How `plm generate` decodes."""

    max_new_tokens: int | None = None
    """New tokens to generate (default 64 when max_length is not given either)."""
    max_length: int | None = None
    """Total length, prompt included (the reference walkthrough uses max_length=50)."""
    strategy: str = "greedy"
    """greedy, sample or beam."""
    temperature: float = 1.0
    """Sampling temperature (> 0); only with strategy=sample."""
    top_k: int = 50
    """Sample from the k most likely tokens (0 = no limit); only with strategy=sample."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]; only with strategy=sample."""
    num_beams: int = 4
    """Beams for strategy=beam."""
    repetition_penalty: float = 1.0
    """> 1 discourages repeating tokens."""
    seed: int | None = None
    """Seed for sampling; the same seed gives the same text."""
    stop: list[str] = field(default_factory=list)
    """Stop when any of these strings appears; it is cut from the output."""
    chat: bool = False
    """Wrap the prompt in the model's chat template (instruct models)."""
    system: str | None = None
    """System message for --chat."""

    STRATEGIES = ("greedy", "sample", "beam")

    def validate(self) -> GenerateConfig:
        if self.strategy not in self.STRATEGIES:
            raise InvalidInputError(
                f"unknown strategy '{self.strategy}'", f"use one of: {', '.join(self.STRATEGIES)}"
            )
        require_positive(self.max_new_tokens, "max_new_tokens")
        require_positive(self.max_length, "max_length")
        if self.max_new_tokens is not None and self.max_length is not None:
            raise InvalidInputError(
                "both max_new_tokens and max_length given", "pass only one of them"
            )
        require_positive(self.temperature, "temperature")
        require_range(self.top_p, "top_p", 1e-6, 1.0)
        if self.top_k < 0:
            raise InvalidInputError(f"top_k must be >= 0, got {self.top_k}", "pass 0 for no limit")
        require_positive(self.num_beams, "num_beams")
        require_positive(self.repetition_penalty, "repetition_penalty")
        if any(not s for s in self.stop):
            raise InvalidInputError("empty stop string", "pass non-empty --stop values")
        return self


@dataclass(frozen=True)
class ScratchSize:
    """The shape of a model built from scratch (`PretrainConfig.size`)."""

    layers: int
    hidden: int
    heads: int
    ffn: int


# Small enough to pre-train on a laptop CPU in minutes (`recipes.model_factory` builds them).
SCRATCH_SIZES = {
    "tiny": ScratchSize(layers=4, hidden=128, heads=4, ffn=512),
    "small": ScratchSize(layers=6, hidden=256, heads=8, ffn=1024),
}
SCRATCH_OBJECTIVE = {"bert": "mlm", "distilbert": "mlm", "gpt2": "clm", "llama": "clm"}
"""Which pre-training objective each from-scratch architecture is built for."""


def scratch_archs(objective: str) -> list[str]:
    """The architectures `objective` ("mlm" or "clm") can build from scratch."""
    return [arch for arch, goal in SCRATCH_OBJECTIVE.items() if goal == objective]


def check_scratch_model(arch: str, size: str, objective: str) -> None:
    """Fail with the valid choices when `arch` / `size` do not fit `objective`."""
    valid = scratch_archs(objective)
    if arch not in valid:
        other = "clm" if objective == "mlm" else "mlm"
        hint = (
            f" ({arch} is a {other} architecture: use `plm pretrain {other}`)"
            if arch in SCRATCH_OBJECTIVE
            else ""
        )
        raise InvalidInputError(
            f"--arch {arch!r} cannot be pre-trained with {objective}{hint}",
            f"use --arch {' or '.join(valid)}",
        )
    if size not in SCRATCH_SIZES:
        raise InvalidInputError(
            f"unknown --size {size!r}", f"use one of: {', '.join(SCRATCH_SIZES)}"
        )


@dataclass
class PretrainConfig:
    """What `plm pretrain mlm|clm` trains, on which text, and for how long."""

    data: str = "movie-snippets"
    """Corpus: .txt files (a document a line, or blank-line paragraphs), a glob, the text column
    of a CSV/JSONL/parquet file or hub dataset, or the built-in movie-snippets."""
    out: str | None = None
    """Output directory: the final model, checkpoints, results JSON (plmkit.json); default
    runs/mlm or runs/clm, after the objective."""
    model: str | None = None
    """Model to continue pre-training (alias, hub id, directory); default minilm for mlm,
    smollm2 for clm. Not used with from_scratch."""
    text_column: str = "text"
    """Text column of a table or hub dataset."""
    label_column: str | None = "label"
    """Label column of a labelled dataset: used only to hold out the same validation and test
    rows `plm finetune` evaluates on (no leakage). Without one, eval_fraction is held out."""
    eval_fraction: float = 0.1
    """Share of documents held out for evaluation when the data has no labels."""
    from_scratch: bool = False
    """Build a new model from a config (arch, size) instead of loading one."""
    arch: str | None = None
    """From scratch: bert or distilbert (mlm), gpt2 or llama (clm); default bert / gpt2."""
    size: str = "tiny"
    """From scratch: tiny (4 layers, hidden 128) or small (6 layers, hidden 256)."""
    tokenizer: str | None = None
    """From scratch without train_tokenizer: whose tokenizer to use (default minilm for mlm,
    smollm2 for clm)."""
    train_tokenizer: bool = False
    """From scratch: train a new tokenizer on the corpus (WordPiece for BERTs, BPE for GPTs)."""
    vocab_size: int = 8000
    """Vocabulary size of a trained tokenizer, specials included."""
    block_size: int = 128
    """Tokens per packed training block."""
    mlm_probability: float = 0.15
    """MLM: share of tokens picked (80% [MASK], 10% random, 10% kept)."""
    whole_word: bool = False
    """MLM: pick whole words rather than single sub-word tokens."""
    epochs: float = 1.0
    """Passes over the corpus, unless max_steps is given."""
    max_steps: int | None = None
    """Train for exactly this many optimizer steps (overrides epochs)."""
    batch_size: int = 32
    """Blocks per optimizer step."""
    learning_rate: float | None = None
    """Peak learning rate; default 1e-4 when continuing, 1e-3 from scratch."""
    warmup_ratio: float = 0.06
    """Share of the steps spent warming the learning rate up, then linear decay."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    save_steps: int | None = None
    """Checkpoint every N steps (default: about four checkpoints a run)."""
    eval_blocks: int = 200
    """Held-out blocks scored before and after training (perplexity, masked accuracy)."""
    pseudo_perplexity_texts: int = 100
    """MLM: held-out texts scored for pseudo-perplexity (one forward pass per token)."""
    probes: list[str] = field(default_factory=list)
    """Shown after training: texts with [MASK] to fill (mlm) or prompts to continue (clm);
    default: three held-out texts (a middle word masked, or their first words as prompts)."""
    bf16: bool | None = None
    """bf16 autocast: None decides from the CPU (native and measured faster)."""
    resume: bool | str = False
    """Continue from the last complete checkpoint in `out` (True) or from this checkpoint."""
    seed: int = 42
    """One seed for the split, the init, the masks and the data order."""
    nproc: int | None = None
    """Train on N processes on this machine (plm starts torchrun for you); under torchrun,
    the run fails unless the launcher started N processes here. batch_size stays global."""
    stream: bool | None = None
    """Pack .txt corpora through a memory-mapped Arrow cache, with bounded memory, instead of
    in memory; default: from 64 MiB of text. Streamed, a hashed share of the documents is
    held out (eval_fraction)."""
    show_progress: bool = True
    """Progress bars and lines on stderr (the CLI turns them off with --json)."""

    def scratch_arch(self, objective: str) -> str:
        """The architecture to build from scratch: `arch`, or bert (mlm) / gpt2 (clm)."""
        return self.arch or ("bert" if objective == "mlm" else "gpt2")

    def validate(self, objective: str) -> PretrainConfig:
        """Check every field for `objective` ("mlm" or "clm") and fill in the defaults that
        depend on it (`out`); returns self."""
        self.out = self.out or f"runs/{objective}"
        if self.from_scratch:
            check_scratch_model(self.scratch_arch(objective), self.size, objective)
        elif self.train_tokenizer:
            raise InvalidInputError(
                "--train-tokenizer only goes with --from-scratch: a pre-trained model's "
                "embeddings belong to its own tokenizer",
                "add --from-scratch, or drop --train-tokenizer",
            )
        for name in ("block_size", "batch_size", "vocab_size", "max_steps", "save_steps", "nproc"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInputError(
                    f"{name} must be a whole number, got {value!r}",
                    f"pass --{name.replace('_', '-')} as an integer",
                )
            require_positive(value, name)
        for name in ("epochs", "learning_rate", "eval_blocks"):
            require_positive(getattr(self, name), name)
        if self.pseudo_perplexity_texts < 0:
            raise InvalidInputError(
                "pseudo_perplexity_texts must be >= 0", "pass 0 to skip pseudo-perplexity"
            )
        require_range(self.eval_fraction, "eval_fraction", 0.01, 0.5)
        require_range(self.warmup_ratio, "warmup_ratio", 0.0, 0.5)
        require_range(self.mlm_probability, "mlm_probability", 0.01, 0.99)
        if self.block_size < 8:
            raise InvalidInputError(
                f"block_size {self.block_size} is too short to learn from", "use 64 or more"
            )
        return self


@dataclass
class FinetuneConfig:
    """What `plm finetune` trains, on which data, and how. Fields left at None take the
    recipe's value (see `plmkit.recipes.finetune_settings.RECIPES`)."""

    model: str | None = None
    """Pre-trained model to fine-tune (alias, hub id in the cache, or directory); default the
    recipe's: minilm, or the embedded decoder smollm2 for the accurate recipe."""
    data: str = "movie-snippets"
    """movie-snippets, a CSV / TSV / JSONL / parquet file (or glob), or a hub dataset id."""
    out: str = "runs/classifier"
    """Output directory: the fine-tuned model, plmkit.json, and checkpoints/ while training."""
    recipe: str = "default"
    """default (fast: dynamic padding, length grouping, bf16 where native, fused AdamW),
    reference (the tutorial: pad to 512, batch 8, 1 epoch, fp32, plain AdamW) or accurate
    (the embedded 135M decoder fine-tuned as a classifier: slower)."""
    text_column: str = "text"
    """Column holding the texts."""
    label_column: str = "label"
    """Column holding the labels (class names or integer ids)."""
    split: str | None = None
    """Hub datasets only: the split to carve train / validation / test from (train[:10%])."""
    seed: int = 42
    """Seed for the splits, the head's initialisation, dropout and batch order."""
    test_size: float = 0.1
    """Share of rows held out for the test split."""
    validation_size: float = 0.1
    """Share of rows held out for validation (model selection, early stopping)."""
    epochs: float | None = None
    """Passes over the training split."""
    batch_size: int | None = None
    """Training batch size."""
    learning_rate: float | None = None
    """Peak learning rate (after warmup, then linear decay to 0)."""
    warmup_ratio: float | None = None
    """Share of the training steps spent warming the learning rate up."""
    weight_decay: float | None = None
    """AdamW weight decay."""
    max_length: int | None = None
    """Truncate texts to this many tokens; default: the longest training text (capped by
    the model); the reference recipe pads everything to 512."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (benchmarks, smoke runs)."""
    bf16: bool | None = None
    """bf16 autocast: None = where the CPU has native bf16 and it measures faster."""
    class_weights: str = "none"
    """none, or auto: weight the loss by inverse class frequency (imbalanced data)."""
    early_stopping_patience: int | None = None
    """Stop after this many evaluations without a better validation macro-F1 (0 = never)."""
    freeze_embeddings: bool | None = None
    """Keep the word-embedding matrix fixed (fewer parameters to update: faster steps)."""
    resume: bool = False
    """Continue from the last complete checkpoint in out/checkpoints."""
    keep_checkpoints: bool = False
    """Keep out/checkpoints after a successful run (default: removed to save disk)."""
    drop_empty: bool = False
    """Drop rows with an empty text or label instead of stopping with an error."""
    eval_batch_size: int = 64
    """Batch size for evaluation (length-sorted batches)."""
    nproc: int | None = None
    """Train on N processes on this machine (plm starts torchrun for you); under torchrun,
    the run fails unless the launcher started N processes here. batch_size stays global."""

    RECIPES = ("default", "reference", "accurate")
    CLASS_WEIGHTS = ("none", "auto")

    def validate(self) -> FinetuneConfig:
        if self.recipe not in self.RECIPES:
            raise InvalidInputError(
                f"unknown recipe '{self.recipe}'", f"use one of: {', '.join(self.RECIPES)}"
            )
        if self.class_weights not in self.CLASS_WEIGHTS:
            raise InvalidInputError(
                f"unknown class_weights '{self.class_weights}'", "use none or auto"
            )
        for name in ("epochs", "batch_size", "learning_rate", "max_length", "max_steps", "nproc"):
            require_positive(getattr(self, name), name)
        require_positive(self.eval_batch_size, "eval_batch_size")
        require_range(self.warmup_ratio, "warmup_ratio", 0.0, 0.5)
        require_range(self.weight_decay, "weight_decay", 0.0, 1.0)
        require_range(self.test_size, "test_size", 0.0, 0.9)
        require_range(self.validation_size, "validation_size", 0.0, 0.9)
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise InvalidInputError(
                f"early_stopping_patience must be >= 0, got {self.early_stopping_patience}",
                "pass 0 to never stop early",
            )
        if not self.out:
            raise InvalidInputError("no output directory given", "pass --out runs/NAME")
        return self
