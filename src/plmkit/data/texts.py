"""Plain text from users' files: `read_utf8`, the one reader of text files for every command
(data tables, `.txt` corpora, `plm encode --file`; `read_utf8_stream` for stdin), and the
texts of `plm encode` (arguments and/or a file of texts).

A file is decoded as strict UTF-8 (a leading BOM is dropped): a wrong encoding is a one-line
error naming the line and the byte, the same for every command, rather than silently replaced
characters ("caf\ufffd") in embeddings or training data.
"""

from __future__ import annotations

import codecs
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from plmkit.errors import DataError, InvalidInputError
from plmkit.validation import require_texts


def directory_error(path: str | Path, fix: str) -> DataError:
    """The error for a directory passed where a file is expected: one wording for every command."""
    return DataError(f"'{path}' is a directory", fix)


def read_utf8(path: str | Path) -> str:
    """The text of the file `path`, decoded as strict UTF-8; a leading BOM is dropped."""
    path = Path(path)
    if path.is_dir():
        raise directory_error(path, "pass a file, not a directory")
    converted = path.with_name(f"{path.stem}.utf8{path.suffix}")
    fix = (
        "re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 "
        f"{shlex.quote(str(path))} > {shlex.quote(str(converted))}"
    )
    return decode_utf8(path.read_bytes(), f"'{path}'", fix)


def read_utf8_stream(stream: TextIO) -> str:
    """The text of a stream such as stdin: its bytes decoded like a file's (a stream without
    bytes underneath, like io.StringIO, is already text)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return stream.read()
    fix = "pipe UTF-8 text, e.g. through iconv -f latin1 -t utf-8"
    return decode_utf8(buffer.read(), "stdin", fix)


def decode_utf8(raw: bytes, source: str, fix: str) -> str:
    """`raw` as strict UTF-8 without a leading BOM; else an error naming the byte and its line."""
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line = raw.count(b"\n", 0, offset) + 1
        raise DataError(
            f"{source} is not UTF-8: byte 0x{raw[offset]:02x} at offset {offset} (line {line})",
            fix,
        ) from error


def read_text_file(file: str | Path | TextIO, text_field: str = "text") -> list[str]:
    """Texts from a .txt (one per non-blank line) or .jsonl (field `text_field`) file, or from a
    text stream such as stdin (one per non-blank line)."""
    if not isinstance(file, (str, Path)):
        texts = _non_blank(read_utf8_stream(file).splitlines())
        if not texts:
            raise InvalidInputError("stdin has no text", "add one text per line")
        return texts
    path = Path(file)
    if not path.exists():
        raise InvalidInputError(
            f"input file '{path}' does not exist", "check the path passed to --file"
        )
    lines = read_utf8(path).splitlines()
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
        texts = _non_blank(lines)
    if not texts:
        raise InvalidInputError(f"input file '{path}' has no text", "add one text per line")
    return texts


def gather_texts(texts: Sequence[str] | None, file: str | Path | TextIO | None) -> list[str]:
    """Positional texts plus the texts of `file` (a path or a stream), validated as non-empty."""
    items = list(texts or [])
    if file is not None:
        items += read_text_file(file)
    return require_texts(items)


def _non_blank(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]
