"""What a classifier's prediction is, and the files `plm predict --file` reads and writes:
texts from a data file in, one `Prediction` a row out, in input order. No model runs here
(that is `classify.py`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plmkit.errors import InvalidInputError

PREDICTION_SUFFIXES = (".csv", ".tsv", ".jsonl")


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


def check_predictions_path(out: str | Path) -> Path:
    """`out` as a Path, refused before any work when predictions cannot be written there."""
    out = Path(out)
    if out.suffix.lower() not in PREDICTION_SUFFIXES:
        raise InvalidInputError(
            f"cannot write predictions to '{out.name}'",
            "use an --out path ending in .csv, .tsv or .jsonl",
        )
    return out


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """The `text_column` of a CSV / TSV / JSONL / parquet file, or a .txt's lines, in order;
    an empty text is an error naming its line."""
    from plmkit.data import load_split, load_texts

    if Path(path).suffix.lower() == ".txt":
        return load_texts(str(path), documents="lines")
    return load_split(str(path), "all", text_column=text_column, label_column=None).texts


def write_predictions(predictions: Sequence[Prediction], out: Path) -> Path:
    """.jsonl: one `Prediction.to_dict()` a line; .csv / .tsv: text, label, score and a
    p_<label> column per class."""
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(predictions[0].probabilities) if predictions else []
    with out.open("w", encoding="utf-8", newline="") as handle:
        if out.suffix.lower() == ".jsonl":
            for p in predictions:
                handle.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
            return out
        writer = csv.writer(handle, delimiter="\t" if out.suffix.lower() == ".tsv" else ",")
        writer.writerow(["text", "label", "score", *(f"p_{n}" for n in names)])
        for p in predictions:
            writer.writerow([p.text, p.label, p.score, *(p.probabilities[n] for n in names)])
    return out
