"""Datasets for text classification, and the text source for pre-training corpora.

`data` is one of: the built-in `movie-snippets` (10,568 Rotten Tomatoes sentences, labels
negative/positive, from Hutto & Gilbert, ICWSM 2014); a CSV / TSV / JSON Lines (.jsonl, .json)
/ parquet file, or a glob of them; a Hugging Face hub dataset id (`imdb`, `user/name`), read
from the local cache when offline.

Splits. Local data has no splits of its own: `load_dataset_splits` carves train / validation /
test from a seed, stratified by label and independent of the row order of the file, and
`load_split(data, "test")` returns those same rows (`"all"` returns every row, unsplit). For a
hub id `split` is the hub's own split string (`"train[:1%]"`): `load_split` returns it as is,
`load_dataset_splits` carves the seeded splits out of it. Splits of size 0 are left out.

Labels are class names or integers. Ids follow the sorted names (integers numerically, before
strings), or a hub ClassLabel's order; evaluation data is matched to a model's labels by name
(any case), or by id when the label is an integer in range.

User files are decoded as strict UTF-8: a wrong encoding is an error with a fix rather than
silently replaced characters in the training data. The movie-snippets file is valid UTF-8
(checked: its only non-ASCII characters are accents, dashes and the like); it gets light
cleaning instead (HTML entities, `''` quotes, runs of spaces where dashes were lost).

huggingface_hub and datasets read HF_HUB_OFFLINE once, at import; it is re-read at each call
here so that an offline run fails at once instead of retrying the network for a minute.
One file rather than a data/ package: the public functions come first, then the helpers for
loading, splitting and labels, then the readers (tables, text, the built-in dataset, the hub).
"""

from __future__ import annotations

import glob
import hashlib
import html
import io
import json
import logging
import math
import numbers
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plmkit.errors import DataError, InvalidInputError

log = logging.getLogger(__name__)

MOVIE_SNIPPETS = "movie-snippets"
BUILTIN_DATASETS = (MOVIE_SNIPPETS,)
SPLITS = ("train", "validation", "test")
MOVIE_SNIPPETS_FILE = "movieReviewSnippets_GroundTruth.txt"
MOVIE_SNIPPETS_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
VADER_SDIST = "vaderSentiment==3.3.2"
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
# extension -> CSV separator, or the reader
TABLE_FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": "json", ".json": "json", ".parquet": "pq"}
_EMPTY_FIX = "drop or fill empty rows (or pass drop_empty=True to drop them)"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


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


def load_dataset_splits(
    data: str,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    split: str | None = None,
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    label_names: list[str] | None = None,
    drop_empty: bool = False,
) -> dict[str, TextDataset]:
    """Seeded train / validation / test splits of `data` (see the module docstring).

    `label_names` (a model's id -> name list) maps the labels at evaluation time; left out, it
    is built from the data, which must then hold at least two classes.
    """
    if not (0 <= test_size < 1 and 0 <= validation_size < 1 and test_size + validation_size < 1):
        raise InvalidInputError(
            f"test_size={test_size} and validation_size={validation_size} leave no training rows",
            fix="use fractions in [0, 1) that add up to less than 1, e.g. 0.1 and 0.1",
        )
    full = _load_all(data, text_column, label_column, split, label_names, drop_empty)
    labels = full.labels or [0] * len(full)
    n_test = math.ceil(test_size * len(full) - 1e-9)
    n_validation = math.ceil(validation_size * len(full) - 1e-9)
    if n_test + n_validation >= len(full):
        raise DataError(
            f"{data} has {len(full)} rows, too few to split off {n_test} test and "
            f"{n_validation} validation rows",
            fix="add rows, or lower test_size / validation_size",
        )
    ranked = _stratified_order(full.texts, labels, seed)
    parts = {
        "test": ranked[:n_test],
        "validation": ranked[n_test : n_test + n_validation],
        "train": ranked[n_test + n_validation :],
    }
    return {name: _subset(full, sorted(parts[name]), name) for name in SPLITS if parts[name]}


def load_split(
    data: str,
    split: str = "train",
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    label_names: list[str] | None = None,
    drop_empty: bool = False,
) -> TextDataset:
    """One split: a seeded one ("train", "validation", "test") or "all" of local data, or any
    split string of a hub dataset. Pass the same seed and sizes as for training."""
    if _kind(data) == "hub" or split == "all":
        hub_split = split if _kind(data) == "hub" else None
        return _load_all(data, text_column, label_column, hub_split, label_names, drop_empty)
    if split not in SPLITS:
        raise InvalidInputError(
            f"unknown split {split!r} for {data}",
            fix="use train, validation, test or all (strings like train[:1%] are for hub ids)",
        )
    splits = load_dataset_splits(
        data,
        text_column=text_column,
        label_column=label_column,
        seed=seed,
        test_size=test_size,
        validation_size=validation_size,
        label_names=label_names,
        drop_empty=drop_empty,
    )
    if split not in splits:
        raise InvalidInputError(f"the {split} split is empty", fix=f"set {split}_size above 0")
    return splits[split]


def load_texts(
    data: str, text_column: str = "text", *, split: str = "train", documents: str = "auto"
) -> list[str]:
    """Texts for a pre-training corpus; empty ones are dropped. Besides the sources above, plain
    .txt files: `documents` is "lines" (one document a line), "paragraphs" (separated by blank
    lines) or "auto" (paragraphs when the file has a blank line between texts)."""
    if documents not in ("auto", "lines", "paragraphs"):
        raise InvalidInputError(f"documents={documents!r}", fix="use auto, lines or paragraphs")
    kind = _kind(data)
    if kind == "builtin":
        return _read_movie_snippets(include_neutral=True)[0]
    if kind == "hub":
        return _read_hub(data, split, text_column, None, drop_empty=True)[0]
    texts: list[str] = []
    for path in _local_files(data, allow_txt=True):
        if path.suffix.lower() == ".txt":
            texts += _read_txt(path, documents)
        else:
            texts += _read_table(path, text_column, None, drop_empty=True)[0]
    if not texts:
        raise DataError(f"{data} holds no text", fix="point to files that contain text")
    return texts


def movie_snippets_path() -> Path:
    """The verified movie-snippets file: from $PLMKIT_DATA_DIR, a `shared/data` directory above
    the current or the package directory, the plmkit cache, or else fetched into the cache."""
    env_dir = os.environ.get("PLMKIT_DATA_DIR")
    starts = (Path.cwd(), Path(__file__).resolve().parent)
    dirs = [Path(env_dir)] if env_dir else []
    dirs += [d / "shared" / "data" for start in starts for d in (start, *start.parents)]
    dirs.append(_cache_dir() / "data")
    for directory in dirs:
        candidate = directory / MOVIE_SNIPPETS_FILE
        if candidate.is_file():
            fix = f"replace {candidate} with the original file, or delete it to fetch it again"
            _check_sha256(candidate, MOVIE_SNIPPETS_SHA256, fix)
            return candidate
    return fetch_movie_snippets(_cache_dir() / "data" / MOVIE_SNIPPETS_FILE)


def fetch_movie_snippets(target: Path) -> Path:
    """Download the vaderSentiment sdist with pip and extract the movie-snippets file."""
    log.info("fetching %s from the %s sdist", MOVIE_SNIPPETS_FILE, VADER_SDIST)
    fix = f"put {MOVIE_SNIPPETS_FILE} in $PLMKIT_DATA_DIR, or use your own CSV/JSONL with --data"
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        done = subprocess.run([*command, VADER_SDIST, "-d", tmp], capture_output=True, text=True)
        sdists = sorted(Path(tmp).glob("*.tar.gz"))
        if done.returncode != 0 or not sdists:
            reason = (done.stderr.strip().splitlines() or ["no sdist saved"])[-1]
            raise DataError(f"could not download {VADER_SDIST} for movie-snippets: {reason}", fix)
        return extract_from_sdist(
            sdists[0],
            target,
            sdist_sha256=VADER_SDIST_SHA256,
            inner_archive=VADER_INNER_ARCHIVE,
            member=MOVIE_SNIPPETS_FILE,
            member_sha256=MOVIE_SNIPPETS_SHA256,
        )


def extract_from_sdist(
    sdist: Path,
    target: Path,
    *,
    sdist_sha256: str,
    inner_archive: str,
    member: str,
    member_sha256: str,
) -> Path:
    """Write the file named `member` (by basename) from the tar.gz `inner_archive` inside the
    sdist to `target`, atomically, checking both hashes."""
    _check_sha256(sdist, sdist_sha256, "retry the download; the sdist may be corrupt")
    with tarfile.open(sdist, "r:gz") as outer:
        inner = _member_bytes(outer, lambda name: f"/{name}".endswith(f"/{inner_archive}"), sdist)
    with tarfile.open(fileobj=io.BytesIO(inner), mode="r:gz") as nested:
        payload = _member_bytes(nested, lambda name: Path(name).name == member, sdist)
    if hashlib.sha256(payload).hexdigest() != member_sha256:
        raise DataError(f"{member} in {sdist.name} has an unexpected sha256", fix="retry later")
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _member_bytes(archive: tarfile.TarFile, wanted: Any, source: Path) -> bytes:
    for info in archive.getmembers():
        if info.isfile() and wanted(info.name):
            return archive.extractfile(info).read()  # type: ignore[union-attr]
    raise DataError(f"{source.name} does not hold the expected file", fix="check the sdist")


def _check_sha256(path: Path, expected: str, fix: str) -> None:
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise DataError(f"{path} does not have the expected sha256 {expected[:12]}...", fix)


def _cache_dir() -> Path:
    return Path(os.environ.get("PLMKIT_CACHE") or Path.home() / ".cache" / "plmkit")


def _kind(data: str) -> str:
    if data in BUILTIN_DATASETS:
        return "builtin"
    path = Path(data).expanduser()
    if path.exists() or path.suffix.lower() in (*TABLE_FORMATS, ".txt") or glob.has_magic(data):
        return "files"
    return "hub" if _HUB_ID.fullmatch(data) else "files"


def _load_all(
    data: str,
    text_column: str,
    label_column: str | None,
    split: str | None,
    label_names: list[str] | None,
    drop_empty: bool,
) -> TextDataset:
    """Every row of `data` (for a hub id: of its `split`), labels mapped to ids."""
    kind, declared = _kind(data), None
    if kind != "hub" and split is not None:
        raise InvalidInputError(
            f"{data} is local data: its splits come from the seed, not from split={split!r}",
            fix="leave split out and set test_size / validation_size",
        )
    if kind == "builtin":
        texts, raw = _read_movie_snippets(include_neutral=False)
    elif kind == "hub":
        split = split or "train"
        texts, raw, declared = _read_hub(data, split, text_column, label_column, drop_empty)
    else:
        texts, raw = [], [] if label_column else None
        for path in _local_files(data, allow_txt=False):
            more_texts, more_raw = _read_table(path, text_column, label_column, drop_empty)
            texts += more_texts
            raw = None if raw is None or more_raw is None else raw + more_raw
    if not texts:
        raise DataError(f"{data} has no rows", fix="point --data to a file with rows")
    source, split = (data, "all") if split is None else (f"{data}:{split}", split)
    if raw is None:
        return TextDataset(texts, None, list(label_names or []), source, split)
    names = label_names or declared or _sorted_label_names(raw)
    ids = _encode_labels(raw, names, data)
    if label_names is None and len(set(ids)) < 2:
        raise DataError(
            f"every row of {source} has the label {names[ids[0]]!r}; a classifier needs 2 classes",
            fix="use data with two or more labels (a hub slice like train[:1%] may hold one)",
        )
    return TextDataset(texts, ids, list(names), source, split)


def _subset(full: TextDataset, rows: list[int], split: str) -> TextDataset:
    labels = None if full.labels is None else [full.labels[i] for i in rows]
    return TextDataset([full.texts[i] for i in rows], labels, full.label_names, full.source, split)


def _stratified_order(texts: list[str], labels: list[int], seed: int) -> list[int]:
    """Row indices in a seeded order where every prefix holds each class in proportion.

    Rows are first put in a canonical order (by text, label) so the order of the file does not
    matter; then each class is shuffled and a row's key is its rank fraction within its class.
    """
    import numpy as np

    canonical = sorted(range(len(texts)), key=lambda i: (texts[i], labels[i]))
    shuffled = [canonical[p] for p in np.random.default_rng(seed).permutation(len(texts))]
    by_class: dict[int, list[int]] = {}
    for row in shuffled:
        by_class.setdefault(labels[row], []).append(row)
    key = {
        row: (rank + 0.5) / len(rows) for rows in by_class.values() for rank, row in enumerate(rows)
    }
    position = {row: p for p, row in enumerate(shuffled)}
    return sorted(shuffled, key=lambda row: (key[row], position[row]))


def _sorted_label_names(raw: Sequence[int | str]) -> list[str]:
    values = set(raw)
    ints = sorted(v for v in values if isinstance(v, int))
    return [str(v) for v in ints] + sorted(v for v in values if isinstance(v, str))


def _encode_labels(raw: Sequence[int | str], names: list[str], source: str) -> list[int]:
    by_name: dict[str, int] = {}
    for i, name in enumerate(names):
        by_name.setdefault(str(name).lower(), i)
    ids, unknown = [], set()
    for value in raw:
        label = by_name.get(str(value).lower())
        if label is None and isinstance(value, int) and 0 <= value < len(names):
            label = value
        if label is None:
            unknown.add(str(value))
        ids.append(label)
    if unknown:
        raise DataError(
            f"{source} has labels {sorted(unknown)[:10]} that are not among the model's labels "
            f"{names}",
            fix=f"use the model's label names (any case) or ids 0..{len(names) - 1}",
        )
    return ids  # type: ignore[return-value]


def _label_value(value: Any) -> int | str | None:
    """A raw label as a class name or an integer; None when missing."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if re.fullmatch(r"[+-]?\d+", value) else (value or None)
    if isinstance(value, numbers.Integral):
        return int(value)
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return None
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    raise DataError(
        f"label {value!r} is not a class name or a whole number",
        fix="classification needs class labels: names or integer ids",
    )


def _check_rows(
    source: str,
    texts: list[Any],
    raw: list[Any] | None,
    lines: Sequence[int],
    unit: str,
    drop_empty: bool,
) -> tuple[list[str], list[int | str] | None]:
    """Clean texts and labels; empty ones are an error naming their line numbers, or dropped."""
    texts = ["" if t is None or t != t else str(t).strip() for t in texts]  # t != t: NaN
    labels = None if raw is None else [_label_value(v) for v in raw]
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


def _local_files(data: str, allow_txt: bool) -> list[Path]:
    formats = ", ".join([*TABLE_FORMATS, ".txt"] if allow_txt else TABLE_FORMATS)
    if glob.has_magic(data):
        paths = [Path(p) for p in sorted(glob.glob(os.path.expanduser(data), recursive=True))]
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise DataError(f"no files match {data!r}", fix="check the pattern (quote it)")
    else:
        paths = [Path(data).expanduser()]
        if not paths[0].is_file():
            what = "is a directory" if paths[0].is_dir() else "does not exist"
            hint = f"; built-in datasets: {', '.join(BUILTIN_DATASETS)}"
            raise DataError(f"{data} {what}", fix=f"pass a file ({formats}) or a glob{hint}")
    for path in paths:
        suffix = path.suffix.lower()
        if suffix not in TABLE_FORMATS and not (allow_txt and suffix == ".txt"):
            raise DataError(
                f"{path}: unknown file type {suffix or '(none)'!r}", fix=f"use one of {formats}"
            )
    return paths


def _read_utf8(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not UTF-8 (byte {error.start}: {error.reason})",
            fix="re-save the file as UTF-8",
        ) from error


def _read_table(
    path: Path, text_column: str, label_column: str | None, drop_empty: bool
) -> tuple[list[str], list[int | str] | None]:
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
                io.StringIO(_read_utf8(path)), sep=kind, dtype=str, keep_default_na=False
            )
            lines, unit = range(2, len(frame) + 2), "line"
    except ValueError as error:  # pandas / pyarrow parse errors, an empty file
        raise DataError(f"cannot read {path}: {error}", fix="check the file's format") from error
    _check_columns(str(path), [str(c) for c in frame.columns], text_column, label_column)
    raw = frame[label_column].tolist() if label_column else None
    return _check_rows(str(path), frame[text_column].tolist(), raw, lines, unit, drop_empty)


def _read_json_records(path: Path) -> tuple[list[dict], Sequence[int], str]:
    text = _read_utf8(path)
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


def _check_columns(source: str, present: list[str], *wanted: str | None) -> None:
    for column in wanted:
        if column is not None and column not in present:
            raise DataError(
                f"{source} has no column {column!r}; its columns: {', '.join(present)}",
                fix="name the right column with text_column / label_column",
            )


def _read_txt(path: Path, documents: str) -> list[str]:
    text = _read_utf8(path).replace("\r\n", "\n")
    if documents == "auto":
        documents = "paragraphs" if re.search(r"\S[ \t]*\n[ \t]*\n\s*\S", text) else "lines"
    chunks = re.split(r"\n[ \t]*\n", text) if documents == "paragraphs" else text.split("\n")
    return [" ".join(chunk.split()) for chunk in chunks if chunk.strip()]


def _read_movie_snippets(include_neutral: bool) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for line in movie_snippets_path().read_bytes().decode("utf-8").split("\n"):
        if line.strip():
            _, rating, text = line.rstrip("\r").split("\t", 2)
            if include_neutral or float(rating) != 0:
                texts.append(_clean_snippet(text))
                labels.append("positive" if float(rating) > 0 else "negative")
    return texts, labels


def _clean_snippet(text: str) -> str:
    return " ".join(html.unescape(text).replace("''", '"').split())


@contextmanager
def _offline_from_env() -> Iterator[bool]:
    """huggingface_hub and datasets read HF_HUB_OFFLINE at import; honour it at call time too."""
    import datasets.config
    from huggingface_hub import constants

    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    wanted = any(os.environ.get(n, "").upper() in ("1", "ON", "YES", "TRUE") for n in names)
    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    if wanted:
        datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield wanted or saved[0]
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _read_hub(
    dataset_id: str, split: str, text_column: str, label_column: str | None, drop_empty: bool
) -> tuple[list[str], list[int | str] | None, list[str] | None]:
    import datasets
    from huggingface_hub.errors import HfHubHTTPError

    fix = "use --data movie-snippets or a local CSV/JSONL file"
    try:
        with _offline_from_env() as offline:
            table = datasets.load_dataset(dataset_id, split=split)
    except (ConnectionError, TimeoutError, FileNotFoundError, HfHubHTTPError) as error:
        if offline or isinstance(error, (ConnectionError, TimeoutError)):
            raise DataError(
                f"dataset {dataset_id!r} is not in the local Hugging Face cache and "
                "the hub cannot be reached",
                fix,
            ) from error
        raise DataError(
            f"dataset {dataset_id!r} was not found on the Hugging Face hub ({_first_line(error)})",
            f"check the id; {fix}",
        ) from error
    except ValueError as error:
        if "split" not in str(error).lower():
            raise
        raise DataError(
            f"dataset {dataset_id!r} has no split {split!r}: {_first_line(error)}",
            fix="use one of the dataset's splits, e.g. train or train[:10%]",
        ) from error
    _check_columns(dataset_id, list(table.column_names), text_column, label_column)
    columns = table.select_columns([c for c in (text_column, label_column) if c]).to_dict()
    raw, declared = columns.get(label_column) if label_column else None, None
    feature = table.features.get(label_column) if label_column else None
    if isinstance(feature, datasets.ClassLabel):
        declared = list(feature.names)
        raw = [declared[v] if v is not None and 0 <= v < len(declared) else None for v in raw]
    texts, labels = _check_rows(
        f"{dataset_id}:{split}",
        columns[text_column],
        raw,
        range(1, len(table) + 1),
        "row",
        drop_empty,
    )
    return texts, labels, declared


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
