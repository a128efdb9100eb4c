"""pipelines/predictions.py: the Prediction record and the predictions files."""

import csv
import json

import pytest

from plmkit.errors import DataError, InvalidInputError
from plmkit.pipelines.predictions import (
    Prediction,
    check_predictions_path,
    read_texts,
    write_predictions,
)

PREDICTIONS = [
    Prediction("good, fun", "positive", 0.9, {"negative": 0.1, "positive": 0.9}),
    Prediction('a "dull" one', "negative", 0.7, {"negative": 0.7, "positive": 0.3}),
]


@pytest.mark.parametrize("suffix, delimiter", [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv_rows_in_order(tmp_path, suffix, delimiter):
    out = write_predictions(PREDICTIONS, tmp_path / "sub" / f"p{suffix}")
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    assert rows == [
        ["text", "label", "score", "p_negative", "p_positive"],
        ["good, fun", "positive", "0.9", "0.1", "0.9"],
        ['a "dull" one', "negative", "0.7", "0.7", "0.3"],
    ]


def test_jsonl_is_one_record_a_line(tmp_path):
    out = write_predictions(PREDICTIONS, tmp_path / "p.jsonl")
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        p.to_dict() for p in PREDICTIONS
    ]


def test_unwritable_suffix_is_refused(tmp_path):
    assert check_predictions_path(str(tmp_path / "p.JSONL")) == tmp_path / "p.JSONL"
    with pytest.raises(InvalidInputError, match="cannot write predictions to 'p.xlsx'"):
        check_predictions_path(tmp_path / "p.xlsx")


def test_read_texts_from_txt_lines_and_columns(tmp_path):
    lines = tmp_path / "in.txt"
    lines.write_text("great fun\ndull mess\n")
    assert read_texts(lines) == ["great fun", "dull mess"]
    table = tmp_path / "in.csv"
    table.write_text("review,stars\nloved it,5\nhated it,1\n")
    assert read_texts(table, "review") == ["loved it", "hated it"]
    table.write_text('review\nloved it\n""\n')
    with pytest.raises(DataError, match="empty text"):
        read_texts(table, "review")
