"""Seeded, stratified train / validation / test splits of local data: which rows go where,
independent of the row order of the file."""

from __future__ import annotations

from plmkit.data.dataset import TextDataset

SPLITS = ("train", "validation", "test")


def stratified_order(texts: list[str], labels: list[int], seed: int) -> list[int]:
    """Row indices in a seeded order where every prefix holds each class in proportion.

    Rows are first put in a canonical order (by text, label) so the order of the file does not
    matter; then each class is shuffled and a row's key is its rank fraction within its class.
    """
    import numpy as np

    canonical = sorted(range(len(texts)), key=lambda i: (texts[i], labels[i]))
    shuffled = [canonical[p] for p in np.random.default_rng(seed).permutation(len(texts))]
    by_class: dict[int, list[int]] = {}
    for row in shuffled:
        by_class.setdefault(labels[row], []).append(row)
    key = {
        row: (rank + 0.5) / len(rows) for rows in by_class.values() for rank, row in enumerate(rows)
    }
    position = {row: p for p, row in enumerate(shuffled)}
    return sorted(shuffled, key=lambda row: (key[row], position[row]))


def split_rows(
    texts: list[str], labels: list[int], seed: int, n_test: int, n_validation: int
) -> dict[str, list[int]]:
    """The sorted row indices of each split: test, then validation, from the seeded order."""
    ranked = stratified_order(texts, labels, seed)
    parts = {
        "test": ranked[:n_test],
        "validation": ranked[n_test : n_test + n_validation],
        "train": ranked[n_test + n_validation :],
    }
    return {name: sorted(parts[name]) for name in SPLITS}


def subset(full: TextDataset, rows: list[int], split: str) -> TextDataset:
    """The rows `rows` of `full`, named `split`."""
    labels = None if full.labels is None else [full.labels[i] for i in rows]
    return TextDataset([full.texts[i] for i in rows], labels, full.label_names, full.source, split)
