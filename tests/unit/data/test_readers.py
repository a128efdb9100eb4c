"""Local data files (plmkit.data.readers): formats, columns, globs, empty rows, bad files, and
.txt corpora for load_texts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from plmkit import data
from plmkit.errors import DataError, InvalidInputError

TEXTS = [f"review number {i} is {'good' if i % 2 else 'bad'}" for i in range(20)]
NAMES = ["neg" if i % 2 == 0 else "pos" for i in range(20)]


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix in (".jsonl", ".json"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    return path


# --- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
@pytest.mark.parametrize("labels", [NAMES, [i % 2 for i in range(20)]], ids=["str", "int"])
def test_file_formats_round_trip(tmp_path, suffix, labels):
    texts = [*TEXTS[:-1], 'quotes "inside", a comma\tand a tab – é']
    path = write_table(tmp_path / f"d{suffix}", pd.DataFrame({"text": texts, "label": labels}))
    full = data.load_split(str(path), "all")
    assert full.texts == texts
    assert full.label_names == sorted({str(label) for label in labels})
    assert [full.label_names[i] for i in full.labels] == [str(label) for label in labels]
    assert full.split == "all" and len(full) == 20


def test_custom_columns_and_json_array(tmp_path):
    rows = [{"review": t, "stars": s} for t, s in zip(TEXTS, NAMES, strict=True)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    full = data.load_split(str(path), "all", text_column="review", label_column="stars")
    assert full.texts == TEXTS and full.label_names == ["neg", "pos"]


def test_glob_concatenates_files(tmp_path):
    write_table(tmp_path / "a.csv", pd.DataFrame({"text": TEXTS[:10], "label": NAMES[:10]}))
    write_table(tmp_path / "b.jsonl", pd.DataFrame({"text": TEXTS[10:], "label": NAMES[10:]}))
    full = data.load_split(str(tmp_path / "*.*"), "all")
    assert full.texts == TEXTS


# --- bad input -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        data.load_split(str(tmp_path / "nope.csv"), "all")
    assert "movie-snippets" in info.value.fix


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(DataError) as info:
        data.load_split(str(tmp_path), "all")
    assert info.value.message == f"'{tmp_path}' is a directory"
    assert "a glob" in info.value.fix
    with pytest.raises(DataError, match="is a directory"):
        data.load_texts(str(tmp_path))


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\ncaf\xc3\xa9,a\nth\xc3\xa9,b\n")
    full = data.load_split(str(path), "all")
    assert full.texts == ["café", "thé"] and full.label_names == ["a", "b"]


def test_unknown_extension(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        data.load_split(str(tmp_path / "d.xlsx"), "all")


def test_missing_column_lists_the_columns(tmp_path):
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"sentence": TEXTS, "label": NAMES}))
    with pytest.raises(DataError, match="no column 'text'; its columns: sentence, label"):
        data.load_split(str(path), "all")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_empty_texts_name_lines_or_are_dropped(tmp_path, suffix):
    texts = list(TEXTS)
    texts[2], texts[5] = "", "   "
    path = write_table(tmp_path / f"d{suffix}", pd.DataFrame({"text": texts, "label": NAMES}))
    first_line = 2 if suffix == ".csv" else 1  # the CSV header is line 1
    with pytest.raises(DataError, match=f"2 of 20 rows .*lines {first_line + 2}, {first_line + 5}"):
        data.load_split(str(path), "all")
    assert len(data.load_split(str(path), "all", drop_empty=True)) == 18


def test_empty_label_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "no label"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="1 of 2 rows have an empty text or label"):
        data.load_split(str(path), "all")


def test_bad_json_line_and_bad_encoding(tmp_path):
    bad_json = tmp_path / "d.jsonl"
    bad_json.write_text('{"text": "a", "label": 1}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        data.load_split(str(bad_json), "all")
    latin = tmp_path / "d.csv"
    latin.write_bytes("text,label\ncafé,a\nthé,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8: byte 0xe9 at offset 14 \(line 2\)") as info:
        data.load_split(str(latin), "all")
    assert "iconv -f latin1 -t utf-8" in info.value.fix
    with pytest.raises(DataError, match=r"line 2"):  # the same reader for .txt corpora
        data.load_texts(str(latin.rename(tmp_path / "d.txt")))


def test_unreadable_and_empty_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="cannot read"):
        data.load_split(str(tmp_path / "empty.csv"), "all")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="has no rows"):
        data.load_split(str(tmp_path / "header.csv"), "all")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read"):
        data.load_split(str(tmp_path / "broken.parquet"), "all")
    with pytest.raises(DataError, match="no files match"):
        data.load_split(str(tmp_path / "*.nothing"), "all")


# --- pre-training texts --------------------------------------------------------------------


def test_load_texts_from_txt_tables_and_globs(tmp_path):
    (tmp_path / "lines.txt").write_text("one doc\n\ntwo\r\nthree\n", encoding="utf-8")
    assert data.load_texts(str(tmp_path / "lines.txt"), documents="lines") == [
        "one doc",
        "two",
        "three",
    ]
    (tmp_path / "paras.txt").write_text("first para\nwrapped\n\n  \nsecond\n", encoding="utf-8")
    assert data.load_texts(str(tmp_path / "paras.txt")) == ["first para wrapped", "second"]
    (tmp_path / "flat.txt").write_text("a\nb\n", encoding="utf-8")
    assert data.load_texts(str(tmp_path / "flat.txt")) == ["a", "b"]
    write_table(tmp_path / "t.csv", pd.DataFrame({"body": ["x", "", "y"]}))
    assert data.load_texts(str(tmp_path / "t.csv"), text_column="body") == ["x", "y"]
    assert len(data.load_texts(str(tmp_path / "*.txt"))) == 6
    with pytest.raises(InvalidInputError):
        data.load_texts(str(tmp_path / "flat.txt"), documents="sentences")
    (tmp_path / "blank.txt").write_text("\n\n")
    with pytest.raises(DataError, match="holds no text"):
        data.load_texts(str(tmp_path / "blank.txt"))


def test_read_frame_keeps_every_column_as_written_and_the_line_numbers(tmp_path):
    from plmkit.data.readers import read_frame

    path = tmp_path / "d.csv"
    path.write_text("id,text,label\n007,a,pos\n8,b,\n", encoding="utf-8")
    frame, lines, unit = read_frame(path)
    assert list(frame.columns) == ["id", "text", "label"]
    assert frame["id"].tolist() == ["007", "8"] and frame["label"].tolist() == ["pos", ""]
    assert list(lines) == [2, 3] and unit == "line"
