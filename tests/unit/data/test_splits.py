"""Seeded, stratified splits of local data (plmkit.data.splits, through load_dataset_splits /
load_split): sizes, determinism, stratification, row-order independence, bad arguments."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from plmkit import data
from plmkit.data.splits import stratified_order
from plmkit.errors import DataError, InvalidInputError

TEXTS = [f"review number {i} is {'good' if i % 2 else 'bad'}" for i in range(20)]
NAMES = ["neg" if i % 2 == 0 else "pos" for i in range(20)]


def write_csv(path: Path, texts: list[str], labels: list | None = None) -> str:
    columns = {"text": texts} if labels is None else {"text": texts, "label": labels}
    pd.DataFrame(columns).to_csv(path, index=False)
    return str(path)


def ids_of(split: data.TextDataset) -> set[str]:
    return set(split.texts)


def test_split_sizes_determinism_and_stratification(tmp_path):
    texts = [f"text {i}" for i in range(100)]
    path = write_csv(tmp_path / "d.csv", texts, ["a"] * 70 + ["b"] * 30)
    splits = data.load_dataset_splits(path, seed=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 80, "validation": 10, "test": 10}
    assert set().union(*map(ids_of, splits.values())) == set(texts)
    assert sorted(splits["test"].labels) == [0] * 7 + [1] * 3  # stratified
    assert sorted(splits["validation"].labels) == [0] * 7 + [1] * 3
    again = data.load_dataset_splits(path, seed=1)
    assert all(again[k].texts == splits[k].texts for k in splits)
    other = data.load_dataset_splits(path, seed=2)
    assert ids_of(other["test"]) != ids_of(splits["test"])
    assert data.load_split(path, "test", seed=1).texts == splits["test"].texts
    tutorial = data.load_dataset_splits(path, test_size=0.2, validation_size=0.0)
    assert {k: len(v) for k, v in tutorial.items()} == {"train": 80, "test": 20}


def test_stratified_order_keeps_every_prefix_in_proportion():
    labels = [0] * 60 + [1] * 40
    order = stratified_order([f"t{i}" for i in range(100)], labels, seed=3)
    assert sorted(order) == list(range(100))
    for size in (10, 25, 50):
        assert sum(labels[row] for row in order[:size]) == pytest.approx(0.4 * size, abs=1)


def test_unlabeled_data_splits_too(tmp_path):
    path = write_csv(tmp_path / "d.csv", TEXTS)
    splits = data.load_dataset_splits(path, label_column=None, test_size=0.5)
    assert splits["test"].labels is None and len(splits["test"]) == 10
    assert splits["train"].data_hash() != splits["test"].data_hash()


def test_split_ignores_the_row_order_of_the_file(tmp_path):
    rows = list(zip([f"text {i}" for i in range(50)], NAMES * 2 + NAMES[:10], strict=True))
    shuffled = random.Random(0).sample(rows, len(rows))
    first = write_csv(tmp_path / "a.csv", *map(list, zip(*rows, strict=True)))
    second = write_csv(tmp_path / "b.csv", *map(list, zip(*shuffled, strict=True)))
    one, two = data.load_dataset_splits(first), data.load_dataset_splits(second)
    assert all(ids_of(one[k]) == ids_of(two[k]) for k in data.SPLITS)


def test_bad_split_arguments(tmp_path):
    path = write_csv(tmp_path / "d.csv", TEXTS, NAMES)
    with pytest.raises(InvalidInputError, match="leave no training rows"):
        data.load_dataset_splits(path, test_size=0.5, validation_size=0.5)
    with pytest.raises(InvalidInputError, match="unknown split"):
        data.load_split(path, "train[:10%]")
    with pytest.raises(InvalidInputError, match="local data"):
        data.load_dataset_splits(path, split="train")
    with pytest.raises(InvalidInputError, match="validation split is empty"):
        data.load_split(path, "validation", validation_size=0.0)
    tiny = write_csv(tmp_path / "t.csv", TEXTS[:3], NAMES[:3])
    with pytest.raises(DataError, match="3 rows, too few to split"):
        data.load_dataset_splits(tiny, test_size=0.4, validation_size=0.4)
