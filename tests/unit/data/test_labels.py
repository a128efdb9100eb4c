"""Labels (plmkit.data.labels): raw values, the sorted id order, matching a model's labels."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from plmkit import data
from plmkit.data.labels import encode_labels, label_value, sorted_label_names
from plmkit.errors import DataError

TEXTS = [f"review number {i}" for i in range(20)]


def test_label_value_reads_names_and_whole_numbers():
    assert [label_value(v) for v in (" pos ", "7", "-2", 3, 4.0, "", None, math.nan)] == [
        "pos",
        7,
        -2,
        3,
        4,
        None,
        None,
        None,
    ]
    with pytest.raises(DataError, match="not a class name or a whole number"):
        label_value(0.5)


def test_sorted_label_names_put_integers_first_numerically():
    assert sorted_label_names(["b", 10, "a", 2, 10]) == ["2", "10", "a", "b"]


def test_encode_labels_by_name_any_case_or_by_id():
    assert encode_labels(["POS", "neg", 0, 1], ["Neg", "Pos"], "d.csv") == [1, 0, 0, 1]
    with pytest.raises(DataError, match=r"d.csv has labels \['2'\]"):
        encode_labels([2], ["Neg", "Pos"], "d.csv")


def test_label_map_is_sorted_and_stable(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS[:6], "label": list("cabcab")}).to_csv(path, index=False)
    full = data.load_split(str(path), "all")
    assert full.label2id == {"a": 0, "b": 1, "c": 2}
    assert full.id2label == {0: "a", 1: "b", 2: "c"}
    assert full.labels == [2, 0, 1, 2, 0, 1]
    json.dumps(full.label_names)  # saved with the model
    ints = tmp_path / "i.csv"
    pd.DataFrame({"text": TEXTS[:3], "label": [10, 2, 1]}).to_csv(ints, index=False)
    assert data.load_split(str(ints), "all").label_names == ["1", "2", "10"]


def test_labels_match_a_model_by_name_or_id(tmp_path):
    path = tmp_path / "d.jsonl"
    frame = pd.DataFrame({"text": TEXTS[:4], "label": ["POSITIVE", "negative", 0, 1]})
    frame.to_json(path, orient="records", lines=True)
    full = data.load_split(str(path), "all", label_names=["Negative", "Positive"])
    assert full.labels == [1, 0, 0, 1] and full.label_names == ["Negative", "Positive"]
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a"], "label": ["pos"]}).to_csv(one_class, index=False)
    assert data.load_split(str(one_class), "all", label_names=["neg", "pos"]).labels == [1]


def test_unknown_labels_name_them_and_the_model_labels(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS[:3], "label": ["neg", "meh", 7]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'7', 'meh'.*\['neg', 'pos'\]"):
        data.load_split(str(path), "all", label_names=["neg", "pos"])


def test_one_class_at_training_time(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": TEXTS, "label": ["pos"] * 20}).to_csv(path, index=False)
    with pytest.raises(DataError, match="label 'pos'"):
        data.load_dataset_splits(str(path))
