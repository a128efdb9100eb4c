"""`TextDataset`: one split of a classification dataset, as every reader returns it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass
class TextDataset:
    """One split: texts, label ids (None for unlabeled text) and the id -> name label list."""

    texts: list[str]
    labels: list[int] | None
    label_names: list[str]
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    def data_hash(self) -> str:
        """sha256 of the texts and label names, in order: what the results JSON records."""
        digest = hashlib.sha256()
        labels = self.labels if self.labels is not None else [None] * len(self.texts)
        for text, label in zip(self.texts, labels, strict=True):
            name = None if label is None else self.label_names[label]
            digest.update(json.dumps([text, name], ensure_ascii=False).encode() + b"\n")
        return digest.hexdigest()
