"""Text inputs for the CLI and the Python API: arguments and/or a file of texts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from plmkit.errors import InvalidInputError
from plmkit.validation import require_texts


def read_text_file(path: str | Path, text_field: str = "text") -> list[str]:
    """Texts from a .txt (one per non-blank line) or .jsonl (field `text_field`) file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"input file '{path}' does not exist", "check the path passed to --file"
        )
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        texts = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                texts.append(str(json.loads(line)[text_field]))
            except (ValueError, KeyError, TypeError):
                raise InvalidInputError(
                    f"{path}:{number} is not a JSON object with a '{text_field}' field",
                    f'write one {{"{text_field}": "..."}} object per line',
                ) from None
    else:
        texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise InvalidInputError(f"input file '{path}' has no text", "add one text per line")
    return texts


def gather_texts(texts: Sequence[str] | None, file: str | Path | None) -> list[str]:
    """Positional texts plus the texts of `file`, validated as non-empty."""
    items = list(texts or [])
    if file is not None:
        items += read_text_file(file)
    return require_texts(items)
