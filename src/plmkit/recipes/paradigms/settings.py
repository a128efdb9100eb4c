"""What `plm paradigms` runs, and the training rows each of its arms sees.

Every subset is drawn from the training split that `plm finetune` carves with the same seed
(`data.splits`); the validation and test splits are never touched. Sizes are "8/class"
(that many examples of each label) or "5%" (that share of the training labels, stratified,
by `stratified_order`, so every prefix keeps the class balance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plmkit.data import TextDataset
from plmkit.data.splits import stratified_order
from plmkit.errors import DataError, InvalidInputError
from plmkit.pipelines.label_scoring import check_template

FULL_SIZES = ("8/class", "64/class", "1%", "5%", "20%", "100%")
QUICK_SIZES = ("8/class", "5%", "100%")


@dataclass
class ParadigmsConfig:
    """What `plm paradigms` compares, on which data, and how much of it."""

    data: str = "movie-snippets"
    """movie-snippets, a CSV / TSV / JSONL / parquet file (or glob), or a hub dataset id."""
    text_column: str = "text"
    """Column holding the texts."""
    label_column: str = "label"
    """Column holding the labels (class names or integer ids)."""
    split: str | None = None
    """Hub datasets only: the split to carve train / validation / test from."""
    seed: int = 42
    """Seed for the splits (the same as `plm finetune --seed`), subsets and training."""
    encoder: str = "minilm"
    """The pre-trained encoder (embeddings, linear head, SetFit, fine-tuning)."""
    decoder: str = "smollm2"
    """The instruct decoder scored zero- and few-shot (needs a chat template)."""
    out: str = "runs/paradigms"
    """Output directory: paradigms.json, paradigms.png and the fine-tuned models."""
    quick: bool = False
    """A subset: fewer curve points, one seed, fewer decoder test texts, short fine-tuning."""
    shots: int = 8
    """k: labelled training examples in the few-shot decoder's prompt (balanced)."""
    setfit_shots: int = 8
    """Examples per class for the SetFit row."""
    seeds: int = 3
    """Seeds at the small curve sizes (8/class, 64/class, 1%); 1 with --quick."""
    decoder_test_size: int = 300
    """Test texts the decoder rows score (a stratified subset; 0 = the whole test split)."""
    finetune_epochs: float = 1.0
    """Epochs of the fine-tuned and from-scratch rows (the default recipe's own is 3)."""
    curve_min_steps: int = 40
    """Fine-tuning at a curve point: at least this many steps, and at least one epoch."""
    setfit_steps: int = 40
    """Contrastive steps of SetFit (batches of 16 pairs) at every size."""
    prompt_template: str = (
        "Classify the text as one of: {labels}. Answer with the label only.\n\nText:\n{text}"
    )
    """The decoder's user turn: {labels} (the label names) and {text} are filled in."""
    label_sentence: str = "This text is {label}."
    """Embedding similarity: one sentence per label ({label} is its name)."""
    sizes: list[str] = field(default_factory=list)
    """Learning-curve sizes (8/class, 5%, ...); default the full or the --quick set."""

    def validate(self) -> ParadigmsConfig:
        for name in ("shots", "setfit_shots", "seeds", "curve_min_steps", "setfit_steps"):
            if getattr(self, name) < 1:
                raise InvalidInputError(
                    f"{name} must be at least 1, got {getattr(self, name)}", f"pass --{name} 1"
                )
        if self.finetune_epochs <= 0:
            raise InvalidInputError("finetune_epochs must be > 0", "pass --finetune-epochs 1")
        if "{label}" not in self.label_sentence:
            raise InvalidInputError(
                "the label sentence has no {label} placeholder, so every label gets the same one",
                "pass e.g. --label-sentence 'This text is {label}.'",
            )
        for size in self.sizes:
            parse_size(size)
        check_template(self.prompt_template)
        return self

    @property
    def curve_sizes(self) -> list[str]:
        return list(self.sizes) or list(QUICK_SIZES if self.quick else FULL_SIZES)

    @property
    def curve_seeds(self) -> int:
        return 1 if self.quick else self.seeds


def parse_size(size: str) -> tuple[str, float]:
    """("per_class", 8) or ("share", 0.05)."""
    try:
        if size.endswith("/class"):
            value = int(size.removesuffix("/class"))
            if value >= 1:
                return "per_class", value
        elif size.endswith("%"):
            value = float(size.removesuffix("%"))
            if 0 < value <= 100:
                return "share", value / 100
    except ValueError:
        pass
    raise InvalidInputError(f"unknown curve size {size!r}", "use e.g. 8/class, 64/class or 5%")


def is_small(size: str) -> bool:
    """The sizes that get several seeds: per-class counts and shares of 1% or less."""
    kind, value = parse_size(size)
    return kind == "per_class" or value <= 0.01


def check_classes(train: TextDataset) -> None:
    present = set(train.labels or [])
    if len(present) < 2:
        raise DataError(
            f"the training split of {train.source} holds a single class, so there is nothing "
            "to tell apart",
            "use data with at least two labels, and enough rows of each",
        )


def per_class_rows(train: TextDataset, per_class: int, seed: int) -> list[int]:
    """`per_class` seeded rows of each label (balanced); fails when a class has fewer."""
    labels = np.asarray(train.labels)
    counts = np.bincount(labels, minlength=len(train.label_names))
    short = [train.label_names[c] for c in np.flatnonzero(counts) if counts[c] < per_class]
    if per_class * np.count_nonzero(counts) > len(train) or short:
        held = ", ".join(f"{train.label_names[c]}: {counts[c]}" for c in np.flatnonzero(counts))
        raise InvalidInputError(
            f"{per_class} examples per class asked, but the training split holds "
            f"{len(train)} rows ({held})",
            "ask for fewer examples (--shots / --setfit-shots / --sizes)",
        )
    order = stratified_order(train.texts, list(train.labels or []), seed)
    taken: dict[int, list[int]] = {}
    for row in order:
        rows = taken.setdefault(int(labels[row]), [])
        if len(rows) < per_class:
            rows.append(row)
    return [row for rows in taken.values() for row in rows]


def subset_rows(train: TextDataset, size: str, seed: int) -> list[int]:
    """The training rows a curve point at `size` learns from."""
    kind, value = parse_size(size)
    if kind == "per_class":
        return per_class_rows(train, int(value), seed)
    order = stratified_order(train.texts, list(train.labels or []), seed)
    n = max(len(set(train.labels or [])), int(round(value * len(train))))
    return order[:n]


def shot_examples(train: TextDataset, k: int, seed: int) -> list[tuple[str, str]]:
    """k balanced examples (text, label name) for a few-shot prompt, classes interleaved."""
    classes = len(set(train.labels or []))
    if k > len(train):
        raise InvalidInputError(
            f"{k} few-shot examples asked, but the training split holds only {len(train)} rows",
            f"pass --shots {len(train)} or fewer",
        )
    if k < classes:
        raise InvalidInputError(
            f"{k} few-shot examples cannot show each of the {classes} labels",
            f"pass --shots {classes} or more",
        )
    per_class = -(-k // classes)
    rows = per_class_rows(train, per_class, seed)
    by_class: dict[int, list[int]] = {}
    for row in rows:
        by_class.setdefault(train.labels[row], []).append(row)
    interleaved = [row for group in zip(*by_class.values(), strict=False) for row in group][:k]
    rng = np.random.default_rng(seed)
    interleaved = [interleaved[i] for i in rng.permutation(len(interleaved))]
    return [(train.texts[r], train.label_names[train.labels[r]]) for r in interleaved]
