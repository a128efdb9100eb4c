"""The data API: what kind of source `data` is, every row of it, its seeded splits, and the
texts of a pre-training corpus. The readers of each kind of source live beside this module."""

from __future__ import annotations

import glob
import math
from pathlib import Path
from typing import Literal

from plmkit.data.builtin import BUILTIN_DATASETS, read_movie_snippets
from plmkit.data.dataset import TextDataset
from plmkit.data.hub import read_hub
from plmkit.data.labels import encode_labels, sorted_label_names
from plmkit.data.readers import TABLE_FORMATS, local_files, read_table, read_txt
from plmkit.data.splits import SPLITS, split_rows, subset
from plmkit.errors import DataError, InvalidInputError
from plmkit.registry import HUB_ID

SourceKind = Literal["builtin", "files", "hub"]


def source_kind(data: str) -> SourceKind:
    """What `data` names: "builtin" (movie-snippets), "files" (a path or a glob of local
    files, also a missing path that looks like one) or "hub" (a hub dataset id)."""
    if data in BUILTIN_DATASETS:
        return "builtin"
    path = Path(data).expanduser()
    if path.exists() or path.suffix.lower() in (*TABLE_FORMATS, ".txt") or glob.has_magic(data):
        return "files"
    return "hub" if HUB_ID.fullmatch(data) else "files"


def load_dataset_splits(
    data: str,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    split: str | None = None,
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    label_names: list[str] | None = None,
    drop_empty: bool = False,
) -> dict[str, TextDataset]:
    """Seeded train / validation / test splits of `data` (see the package docstring).

    `label_names` (a model's id -> name list) maps the labels at evaluation time; left out, it
    is built from the data, which must then hold at least two classes.
    """
    if not (0 <= test_size < 1 and 0 <= validation_size < 1 and test_size + validation_size < 1):
        raise InvalidInputError(
            f"test_size={test_size} and validation_size={validation_size} leave no training rows",
            fix="use fractions in [0, 1) that add up to less than 1, e.g. 0.1 and 0.1",
        )
    full = _load_all(data, text_column, label_column, split, label_names, drop_empty)
    n_test = math.ceil(test_size * len(full) - 1e-9)
    n_validation = math.ceil(validation_size * len(full) - 1e-9)
    if n_test + n_validation >= len(full):
        raise DataError(
            f"{data} has {len(full)} rows, too few to split off {n_test} test and "
            f"{n_validation} validation rows",
            fix="add rows, or lower test_size / validation_size",
        )
    labels = full.labels or [0] * len(full)
    rows = split_rows(full.texts, labels, seed, n_test, n_validation)
    return {name: subset(full, rows[name], name) for name in SPLITS if rows[name]}


def load_split(
    data: str,
    split: str = "train",
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    label_names: list[str] | None = None,
    drop_empty: bool = False,
) -> TextDataset:
    """One split: a seeded one ("train", "validation", "test") or "all" of local data, or any
    split string of a hub dataset. Pass the same seed and sizes as for training."""
    if source_kind(data) == "hub" or split == "all":
        hub_split = split if source_kind(data) == "hub" else None
        return _load_all(data, text_column, label_column, hub_split, label_names, drop_empty)
    if split not in SPLITS:
        raise InvalidInputError(
            f"unknown split {split!r} for {data}",
            fix="use train, validation, test or all (strings like train[:1%] are for hub ids)",
        )
    splits = load_dataset_splits(
        data,
        text_column=text_column,
        label_column=label_column,
        seed=seed,
        test_size=test_size,
        validation_size=validation_size,
        label_names=label_names,
        drop_empty=drop_empty,
    )
    if split not in splits:
        raise InvalidInputError(f"the {split} split is empty", fix=f"set {split}_size above 0")
    return splits[split]


def load_texts(
    data: str, text_column: str = "text", *, split: str = "train", documents: str = "auto"
) -> list[str]:
    """Texts for a pre-training corpus; empty ones are dropped. Besides the sources above, plain
    .txt files: `documents` is "lines" (one document a line), "paragraphs" (separated by blank
    lines) or "auto" (paragraphs when the file has a blank line between texts)."""
    if documents not in ("auto", "lines", "paragraphs"):
        raise InvalidInputError(f"documents={documents!r}", fix="use auto, lines or paragraphs")
    kind = source_kind(data)
    if kind == "builtin":
        return read_movie_snippets(include_neutral=True)[0]
    if kind == "hub":
        return read_hub(data, split, text_column, None, drop_empty=True)[0]
    texts: list[str] = []
    for path in local_files(data, allow_txt=True):
        if path.suffix.lower() == ".txt":
            texts += read_txt(path, documents)
        else:
            texts += read_table(path, text_column, None, drop_empty=True)[0]
    if not texts:
        raise DataError(f"{data} holds no text", fix="point to files that contain text")
    return texts


def _load_all(
    data: str,
    text_column: str,
    label_column: str | None,
    split: str | None,
    label_names: list[str] | None,
    drop_empty: bool,
) -> TextDataset:
    """Every row of `data` (for a hub id: of its `split`), labels mapped to ids."""
    kind, declared = source_kind(data), None
    if kind != "hub" and split is not None:
        raise InvalidInputError(
            f"{data} is local data: its splits come from the seed, not from split={split!r}",
            fix="leave split out and set test_size / validation_size",
        )
    if kind == "builtin":
        texts, raw = read_movie_snippets(include_neutral=False)
    elif kind == "hub":
        split = split or "train"
        texts, raw, declared = read_hub(data, split, text_column, label_column, drop_empty)
    else:
        texts, raw = [], [] if label_column else None
        for path in local_files(data, allow_txt=False):
            more_texts, more_raw = read_table(path, text_column, label_column, drop_empty)
            texts += more_texts
            raw = None if raw is None or more_raw is None else raw + more_raw
    if not texts:
        raise DataError(f"{data} has no rows", fix="point --data to a file with rows")
    source, split = (data, "all") if split is None else (f"{data}:{split}", split)
    if raw is None:
        return TextDataset(texts, None, list(label_names or []), source, split)
    names = label_names or declared or sorted_label_names(raw)
    ids = encode_labels(raw, names, data)
    if label_names is None and len(set(ids)) < 2:
        raise DataError(
            f"every row of {source} has the label {names[ids[0]]!r}; a classifier needs 2 classes",
            fix="use data with two or more labels (a hub slice like train[:1%] may hold one)",
        )
    return TextDataset(texts, ids, list(names), source, split)
