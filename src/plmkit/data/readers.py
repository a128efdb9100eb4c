"""Local data files: which files `data` names (a path or a glob), and their rows.

Tables are CSV / TSV / JSON Lines (.jsonl, or a .json array of objects) / parquet, read as
text and label columns; plain .txt files are pre-training text. Text files are read through
`texts.read_utf8` (strict UTF-8). An empty text or label is an error naming its lines, or
dropped when asked.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plmkit.data.builtin import BUILTIN_DATASETS
from plmkit.data.labels import label_value
from plmkit.data.texts import directory_error, read_utf8
from plmkit.errors import DataError

# extension -> CSV separator, or the reader
TABLE_FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": "json", ".json": "json", ".parquet": "pq"}
_EMPTY_FIX = "drop or fill empty rows (or pass drop_empty=True to drop them)"


def local_files(data: str, allow_txt: bool) -> list[Path]:
    """The files `data` names: one path, or the files a glob matches, each of a known type."""
    formats = ", ".join([*TABLE_FORMATS, ".txt"] if allow_txt else TABLE_FORMATS)
    if glob.has_magic(data):
        paths = [Path(p) for p in sorted(glob.glob(os.path.expanduser(data), recursive=True))]
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise DataError(f"no files match {data!r}", fix="check the pattern (quote it)")
    else:
        paths = [Path(data).expanduser()]
        if not paths[0].is_file():
            hint = f"; built-in datasets: {', '.join(BUILTIN_DATASETS)}"
            fix = f"pass a file ({formats}) or a glob{hint}"
            if paths[0].is_dir():
                raise directory_error(data, fix)
            raise DataError(f"{data} does not exist", fix=fix)
    for path in paths:
        suffix = path.suffix.lower()
        if suffix not in TABLE_FORMATS and not (allow_txt and suffix == ".txt"):
            raise DataError(
                f"{path}: unknown file type {suffix or '(none)'!r}", fix=f"use one of {formats}"
            )
    return paths


def read_table(
    path: Path, text_column: str, label_column: str | None, drop_empty: bool
) -> tuple[list[str], list[int | str] | None]:
    """The texts and raw labels (None without `label_column`) of a table file."""
    frame, lines, unit = read_frame(path)
    check_columns(str(path), [str(c) for c in frame.columns], text_column, label_column)
    raw = frame[label_column].tolist() if label_column else None
    return check_rows(str(path), frame[text_column].tolist(), raw, lines, unit, drop_empty)


def read_frame(path: Path) -> tuple[Any, Sequence[int], str]:
    """Every column of a table file as a pandas DataFrame (CSV / TSV cells as text, as
    written), the line (or record, or row) number of each row, and that unit's name."""
    import pandas as pd

    kind = TABLE_FORMATS[path.suffix.lower()]
    lines: Sequence[int]
    try:
        if kind == "json":
            records, lines, unit = _read_json_records(path)
            frame = pd.DataFrame.from_records(records)
        elif kind == "pq":
            frame, unit = pd.read_parquet(path), "row"
            lines = range(1, len(frame) + 1)
        else:
            frame = pd.read_csv(
                io.StringIO(read_utf8(path)), sep=kind, dtype=str, keep_default_na=False
            )
            lines, unit = range(2, len(frame) + 2), "line"
    except ValueError as error:  # pandas / pyarrow parse errors, an empty file
        raise DataError(f"cannot read {path}: {error}", fix="check the file's format") from error
    return frame, lines, unit


def read_txt(path: Path, documents: str) -> list[str]:
    """The documents of a .txt file: "lines", "paragraphs" (separated by blank lines), or
    "auto" (paragraphs when the file has a blank line between texts)."""
    text = read_utf8(path).replace("\r\n", "\n")
    if documents == "auto":
        documents = "paragraphs" if re.search(r"\S[ \t]*\n[ \t]*\n\s*\S", text) else "lines"
    chunks = re.split(r"\n[ \t]*\n", text) if documents == "paragraphs" else text.split("\n")
    return [" ".join(chunk.split()) for chunk in chunks if chunk.strip()]


def check_columns(source: str, present: list[str], *wanted: str | None) -> None:
    """Every wanted column (None: not wanted) is among `present`, else an error listing them."""
    for column in wanted:
        if column is not None and column not in present:
            raise DataError(
                f"{source} has no column {column!r}; its columns: {', '.join(present)}",
                fix="name the right column with text_column / label_column",
            )


def check_rows(
    source: str,
    texts: list[Any],
    raw: list[Any] | None,
    lines: Sequence[int],
    unit: str,
    drop_empty: bool,
) -> tuple[list[str], list[int | str] | None]:
    """Clean texts and labels; empty ones are an error naming their line numbers, or dropped."""
    texts = ["" if t is None or t != t else str(t).strip() for t in texts]  # t != t: NaN
    labels = None if raw is None else [label_value(v) for v in raw]
    empty = [i for i, t in enumerate(texts) if not t or (labels is not None and labels[i] is None)]
    if empty and not drop_empty:
        where = ", ".join(str(lines[i]) for i in empty[:5]) + (", ..." if len(empty) > 5 else "")
        raise DataError(
            f"{source}: {len(empty)} of {len(texts)} rows have an empty text or "
            f"label ({unit}s {where})",
            fix=_EMPTY_FIX,
        )
    keep = sorted(set(range(len(texts))) - set(empty))
    return [texts[i] for i in keep], None if labels is None else [labels[i] for i in keep]


def _read_json_records(path: Path) -> tuple[list[dict], Sequence[int], str]:
    text = read_utf8(path)
    if text.lstrip().startswith("["):  # one JSON array of objects rather than JSON Lines
        records = json.loads(text)
        lines, unit = range(1, len(records) + 1), "record"
    else:
        records, lines, unit = [], [], "line"
        for number, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 is valid
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path} line {number} is not valid JSON ({error.msg})",
                    fix="write one JSON object per line (JSON Lines)",
                ) from error
            lines.append(number)
    if not all(isinstance(record, dict) for record in records):
        raise DataError(
            f"{path} holds JSON values that are not objects",
            fix='write one object per line, like {"text": "...", "label": "..."}',
        )
    return records, lines, unit
