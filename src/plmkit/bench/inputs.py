"""Benchmark inputs: real movie-review sentences, and a small sentiment classifier.

`plm bench classify` needs a fine-tuned MiniLM. Pass your own (`--classifier runs/sst2`,
from `plm finetune`); otherwise one is made once from `minilm` and cached: one epoch of
full fine-tuning on 2,000 training sentences (about a minute on 2 cores), evaluated on
held-out sentences that the benchmark then classifies.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

from plmkit.errors import DataError
from plmkit.paths import cache_dir

log = logging.getLogger("plmkit")

SEED = 13
TRAIN_SENTENCES = 2000
LABELS = ["negative", "positive"]


def _read_snippets_file() -> tuple[list[str], list[int]]:
    """Fallback reader for `id<TAB>rating<TAB>text` when plmkit.data is not there."""
    roots = [os.environ.get("PLMKIT_DATA_DIR", "")] + [
        str(p / "shared" / "data") for p in Path.cwd().resolve().parents
    ]
    for root in filter(None, roots):
        path = Path(root) / "movieReviewSnippets_GroundTruth.txt"
        if path.is_file():
            texts, labels = [], []
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split("\t")
                if len(parts) == 3 and float(parts[1]) != 0:
                    texts.append(parts[2].strip())
                    labels.append(int(float(parts[1]) > 0))
            return texts, labels
    raise DataError(
        "the movie-snippets file is not available for the benchmark",
        "set PLMKIT_DATA_DIR to the folder holding movieReviewSnippets_GroundTruth.txt",
    )


def movie_sentences() -> tuple[list[str], list[int], list[str], list[int]]:
    """(train texts, train labels, test texts, test labels), seeded and disjoint."""
    try:
        from plmkit.data import load_dataset_splits

        splits = load_dataset_splits("movie-snippets", seed=SEED)
        train, test = splits["train"], splits["test"]
        return train.texts, list(train.labels), test.texts, list(test.labels)
    except ImportError:
        texts, labels = _read_snippets_file()
        order = list(range(len(texts)))
        random.Random(SEED).shuffle(order)
        cut = len(order) // 10
        test, train = order[:cut], order[cut:]
        return (
            [texts[i] for i in train],
            [labels[i] for i in train],
            [texts[i] for i in test],
            [labels[i] for i in test],
        )


def bench_classifier(encoder: str = "minilm") -> Path:
    """A sentiment classifier fine-tuned from `encoder`, made once and cached."""
    from filelock import FileLock

    target = cache_dir() / "bench" / f"{Path(encoder).name}-sentiment-{SEED}-v3"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").exists():
            _finetune(encoder, target)
    return target


def _finetune(encoder: str, target: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from plmkit import loading
    from plmkit.backends.calibration import CALIBRATION_FILE, labelled_jsonl
    from plmkit.batching import length_sorted_batches

    log.info("fine-tuning a sentiment classifier from %s once (about a minute)", encoder)
    torch.manual_seed(SEED)
    all_texts, all_labels, _, _ = movie_sentences()
    order = list(range(len(all_texts)))
    random.Random(SEED).shuffle(order)  # the file is sorted
    rows, held_out = order[:TRAIN_SENTENCES], order[TRAIN_SENTENCES:]
    texts, labels = [all_texts[i] for i in rows], [all_labels[i] for i in rows]
    tokenizer = loading.load_tokenizer(encoder)
    model = AutoModelForSequenceClassification.from_pretrained(
        loading.model_dir(encoder),
        num_labels=2,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
        use_safetensors=True,
    )
    ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    batches = list(length_sorted_batches([len(x) for x in ids], 16))
    random.Random(SEED).shuffle(batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, len(batches))
    model.train()
    for batch in batches:
        padded = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
        loss = model(**padded, labels=torch.tensor([labels[i] for i in batch])).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    # training rows it never saw, for `auto`'s accuracy check (not the benchmark's test rows)
    (target / CALIBRATION_FILE).write_text(
        labelled_jsonl([all_texts[i] for i in held_out], [all_labels[i] for i in held_out]),
        encoding="utf-8",
    )
