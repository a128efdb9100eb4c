"""What a classifier's prediction is, and the files `plm predict --file` reads and writes.

In: a CSV / TSV / JSONL / parquet file (its `text_column`), a .txt or a text stream (stdin),
a text a line. Tables are read by `plmkit.data`'s table reader, the one `plm evaluate` uses
(same decoding, same column and empty-row errors), with every column kept.

Out: every input column, in order and unchanged, then the prediction columns `pred_label`,
`pred_score` and a `p_<label>` per class (a text input gets a `text` column first). The
names cannot overwrite an input column: when the input already has one of them (a
predictions file predicted again), all of them get the first free suffix `_2`, `_3`, ...
Written to .csv / .tsv / .jsonl / .parquet, or to a text stream (stdout) as CSV, TSV or
JSONL like the input (CSV for parquet and text). No model runs here (that is `classify.py`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from plmkit.errors import DataError, InvalidInputError

PREDICTION_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
STREAM_FORMATS = (".csv", ".tsv", ".jsonl")
"""What a text stream receives: the input's format when it is one of these, else CSV."""


@dataclass
class Prediction:
    text: str
    label: str
    score: float
    """probability of `label`."""
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "score": self.score,
            "probabilities": self.probabilities,
        }


@dataclass
class InputRows:
    """The rows of a `--file`: their texts, and every input column to write back."""

    texts: list[str]
    columns: list[str]
    records: list[dict[str, Any]]
    """one dict per row, values as read (CSV / TSV cells are text, unchanged)."""
    format: str
    """.csv, .tsv, .jsonl, .parquet, or .txt (text lines: a file or a stream)."""


def check_predictions_path(out: str | Path) -> Path:
    """`out` as a Path, refused before any work when predictions cannot be written there."""
    out = Path(out)
    if out.suffix.lower() not in PREDICTION_SUFFIXES:
        raise InvalidInputError(
            f"cannot write predictions to '{out.name}'",
            "use an --out path ending in .csv, .tsv, .jsonl or .parquet (or - for stdout)",
        )
    return out


def read_rows(source: str | Path | TextIO, text_column: str = "text") -> InputRows:
    """The rows of a table file, the lines of a .txt, or the lines of a text stream; an
    empty text is an error naming its line."""
    from plmkit.data import load_texts, read_text_file
    from plmkit.data.readers import check_columns, check_rows, local_files, read_frame

    if not isinstance(source, (str, Path)):
        return _text_rows(read_text_file(source))  # stdin: strict UTF-8, a text a line
    paths = local_files(str(source), allow_txt=True)  # missing, a directory, a wrong type...
    if len(paths) > 1:
        raise InvalidInputError(
            f"--file {source} matches {len(paths)} files",
            "pass one file: its rows come back row for row, in one --out",
        )
    path = paths[0]
    if path.suffix.lower() == ".txt":
        return _text_rows(load_texts(str(path), documents="lines"))
    frame, lines, unit = read_frame(path)
    columns = [str(c) for c in frame.columns]
    check_columns(str(path), columns, text_column)
    texts, _ = check_rows(str(path), frame[text_column].tolist(), None, lines, unit, False)
    records = [
        {column: _plain(value) for column, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
    return InputRows(texts, columns, records, path.suffix.lower())


def _text_rows(texts: list[str]) -> InputRows:
    return InputRows(texts, ["text"], [{"text": t} for t in texts], ".txt")


def _plain(value: Any) -> Any:
    """A table cell as a plain Python value; a missing one (NaN, pd.NA, NaT) as None."""
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value  # numpy scalars


def prediction_columns(existing: Sequence[str], label_names: Sequence[str]) -> list[str]:
    """pred_label, pred_score, p_<label>...: with a suffix `_2`, `_3`... when any of them is
    already an input column, so an input column is never overwritten."""
    base = ["pred_label", "pred_score", *(f"p_{name}" for name in label_names)]
    taken, suffix, names = set(existing), 1, base
    while taken & set(names) or len(set(names)) < len(names):
        suffix += 1
        names = [f"{name}_{suffix}" for name in base]
        if suffix > 100:  # duplicate label names: no suffix separates them
            raise DataError("the model's label names repeat", "retrain with distinct labels")
    return names


def output_records(
    predictions: Sequence[Prediction], rows: InputRows
) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, one record per row): the input's columns, then the prediction columns."""
    label_names = list(predictions[0].probabilities) if predictions else []
    names = prediction_columns(rows.columns, label_names)
    records = []
    for record, p in zip(rows.records, predictions, strict=True):
        values = [p.label, p.score, *(p.probabilities[n] for n in label_names)]
        records.append(record | dict(zip(names, values, strict=True)))
    return [*rows.columns, *names], records


def write_predictions(
    predictions: Sequence[Prediction], out: Path | TextIO, rows: InputRows | None = None
) -> Path | TextIO:
    """Write the rows (`rows`, or the predictions' texts) with their prediction columns to
    the file `out` (format by suffix) or the text stream `out` (format of the input)."""
    rows = rows or _text_rows([p.text for p in predictions])
    columns, records = output_records(predictions, rows)
    if not isinstance(out, Path):
        fmt = rows.format if rows.format in STREAM_FORMATS else ".csv"
        _write_text(columns, records, out, fmt)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        import pandas as pd

        pd.DataFrame.from_records(records, columns=columns).to_parquet(out, index=False)
        return out
    with out.open("w", encoding="utf-8", newline="") as handle:
        _write_text(columns, records, handle, out.suffix.lower())
    return out


def _write_text(columns: list[str], records: list[dict], handle: TextIO, fmt: str) -> None:
    if fmt == ".jsonl":
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    writer = csv.writer(handle, delimiter="\t" if fmt == ".tsv" else ",", lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(["" if record[c] is None else record[c] for c in columns])
