"""pipelines/predictions.py: the Prediction record, the rows read from a --file (every
column kept) and the predictions files (input columns, then prediction columns)."""

import csv
import io
import json

import pandas as pd
import pytest

from plmkit.data import load_split
from plmkit.errors import DataError, InvalidInputError
from plmkit.pipelines.predictions import (
    Prediction,
    check_predictions_path,
    prediction_columns,
    read_rows,
    write_predictions,
)

PREDICTIONS = [
    Prediction("good, fun", "positive", 0.9, {"negative": 0.1, "positive": 0.9}),
    Prediction('a "dull" one', "negative", 0.7, {"negative": 0.7, "positive": 0.3}),
]
HEADER = ["pred_label", "pred_score", "p_negative", "p_positive"]


def gold_csv(tmp_path):
    """id (leading zeros), a gold label, text with a comma, quotes and a newline."""
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["id", "label", "text"], ["007", "negative", "good, fun"],
             ["8", "positive", 'a "dull"\none  ']]
        )  # fmt: skip
    return path


@pytest.mark.parametrize("suffix, delimiter", [(".csv", ","), (".tsv", "\t")])
def test_text_rows_get_a_text_column_then_the_predictions(tmp_path, suffix, delimiter):
    out = write_predictions(PREDICTIONS, tmp_path / "sub" / f"p{suffix}")
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    assert rows == [
        ["text", *HEADER],
        ["good, fun", "positive", "0.9", "0.1", "0.9"],
        ['a "dull" one', "negative", "0.7", "0.7", "0.3"],
    ]


def test_every_input_column_is_kept_unchanged(tmp_path):
    rows = read_rows(gold_csv(tmp_path))
    assert rows.texts == ["good, fun", 'a "dull"\none']  # stripped for the model only
    out = write_predictions(PREDICTIONS, tmp_path / "out.csv", rows)
    with out.open(newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["id", "label", "text", *HEADER]
    assert [r[:3] for r in written[1:]] == [["007", "negative", "good, fun"],
                                            ["8", "positive", 'a "dull"\none  ']]  # fmt: skip
    assert [r[3] for r in written[1:]] == ["positive", "negative"]  # gold label untouched


def test_jsonl_and_parquet_keep_types_and_columns(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 7, "text": "good, fun", "meta": {"a": 1}}\n'
                      '{"id": 8, "text": "a dull one", "meta": null}\n')  # fmt: skip
    rows = read_rows(source)
    out = write_predictions(PREDICTIONS, tmp_path / "out.jsonl", rows)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0] == {"id": 7, "text": "good, fun", "meta": {"a": 1}, "pred_label": "positive",
                          "pred_score": 0.9, "p_negative": 0.1, "p_positive": 0.9}  # fmt: skip
    assert records[1]["meta"] is None and list(records[1])[:3] == ["id", "text", "meta"]
    parquet = tmp_path / "in.parquet"
    pd.DataFrame({"id": [7, 8], "text": ["good, fun", "a dull one"]}).to_parquet(parquet)
    out = write_predictions(PREDICTIONS, tmp_path / "out.parquet", read_rows(parquet))
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["id", "text", *HEADER]
    assert frame["id"].tolist() == [7, 8]
    assert frame["pred_label"].tolist() == ["positive", "negative"]


def test_a_clashing_name_gets_a_suffix_instead_of_overwriting():
    assert prediction_columns(["id", "label"], ["a"]) == ["pred_label", "pred_score", "p_a"]
    assert prediction_columns(["pred_label", "p_a_2"], ["a"]) == [
        "pred_label_3", "pred_score_3", "p_a_3"
    ]  # fmt: skip


def test_a_stream_gets_the_inputs_format(tmp_path):
    stream = io.StringIO()
    tsv = tmp_path / "in.tsv"
    tsv.write_text("text\tid\ngood, fun\t1\na dull one\t2\n")
    write_predictions(PREDICTIONS, stream, read_rows(tsv))
    assert stream.getvalue().splitlines()[0] == "\t".join(["text", "id", *HEADER])
    stream = io.StringIO()
    write_predictions(PREDICTIONS, stream, read_rows(io.StringIO("good, fun\n\na dull one\n")))
    assert stream.getvalue().splitlines()[0] == ",".join(["text", *HEADER])
    assert len(stream.getvalue().splitlines()) == 3


def test_unwritable_suffix_is_refused(tmp_path):
    assert check_predictions_path(str(tmp_path / "p.JSONL")) == tmp_path / "p.JSONL"
    assert check_predictions_path(tmp_path / "p.parquet").suffix == ".parquet"
    with pytest.raises(InvalidInputError, match="cannot write predictions to 'p.xlsx'"):
        check_predictions_path(tmp_path / "p.xlsx")


def test_rows_are_read_as_evaluate_reads_them(tmp_path):
    lines = tmp_path / "in.txt"
    lines.write_text("great fun\ndull mess\n")
    assert read_rows(lines).texts == ["great fun", "dull mess"]
    table = tmp_path / "in.csv"
    table.write_bytes("\ufeffreview,stars\n  loved it ,5\nhated it,1\n".encode())
    same = load_split(str(table), "all", text_column="review", label_column=None).texts
    assert read_rows(table, "review").texts == same == ["loved it", "hated it"]
    with pytest.raises(DataError, match="no column 'text'; its columns: review, stars"):
        read_rows(table)
    table.write_text('review\nloved it\n""\n')
    with pytest.raises(DataError, match=r"empty text or label \(lines 3\)"):
        read_rows(table, "review")
    with pytest.raises(DataError, match="does not exist"):
        read_rows(tmp_path / "none.csv")
    with pytest.raises(InvalidInputError, match="matches 2 files"):
        read_rows(str(tmp_path / "in.*"))
