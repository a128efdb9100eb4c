"""What the encode and classify scenarios run on: real movie-review sentences, and a small
sentiment classifier.

`plm bench classify` needs a fine-tuned MiniLM. Pass your own (`--classifier runs/sst2`,
from `plm finetune`); otherwise one is made once from `minilm` and cached: one epoch of
full fine-tuning on 2,000 training sentences (about a minute on 2 cores), evaluated on
held-out sentences that the benchmark then classifies.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from plmkit.paths import cache_subdir

log = logging.getLogger("plmkit")

SEED = 13
TRAIN_SENTENCES = 2000
LABELS = ["negative", "positive"]


def movie_sentences() -> tuple[list[str], list[int], list[str], list[int]]:
    """(train texts, train labels, test texts, test labels), seeded and disjoint."""
    from plmkit.data import load_dataset_splits

    splits = load_dataset_splits("movie-snippets", seed=SEED)
    train, test = splits["train"], splits["test"]
    return train.texts, list(train.labels), test.texts, list(test.labels)


def bench_classifier(encoder: str = "minilm") -> Path:
    """A sentiment classifier fine-tuned from `encoder`, made once and cached."""
    from filelock import FileLock

    target = cache_subdir("bench") / f"{Path(encoder).name}-sentiment-{SEED}-v3"
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").exists():
            _finetune(encoder, target)
    return target


def _finetune(encoder: str, target: Path) -> None:
    import torch

    from plmkit import loading
    from plmkit.backends.calibration import CALIBRATION_FILE, labelled_jsonl
    from plmkit.batching import padded_batches

    log.info("fine-tuning a sentiment classifier from %s once (about a minute)", encoder)
    torch.manual_seed(SEED)
    all_texts, all_labels, _, _ = movie_sentences()
    order = list(range(len(all_texts)))
    random.Random(SEED).shuffle(order)  # the file is sorted
    rows, held_out = order[:TRAIN_SENTENCES], order[TRAIN_SENTENCES:]
    texts, labels = [all_texts[i] for i in rows], [all_labels[i] for i in rows]
    tokenizer = loading.load_tokenizer(encoder)
    model = loading.load_for_finetune(encoder, len(LABELS), dict(enumerate(LABELS)))
    ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    # length-sorted batches of 16 (little padding), visited in a seeded random order
    batches = list(padded_batches(tokenizer, ids, 16))
    random.Random(SEED).shuffle(batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, len(batches))
    model.train()
    for batch, input_ids, attention_mask in batches:
        loss = model(
            input_ids=torch.from_numpy(input_ids),
            attention_mask=torch.from_numpy(attention_mask),
            labels=torch.tensor([labels[i] for i in batch]),
        ).loss
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
