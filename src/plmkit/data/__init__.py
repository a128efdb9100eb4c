"""Datasets for text classification, the text source for pre-training corpora, and the texts of
`plm encode --file`.

`data` is one of: the built-in `movie-snippets` (`builtin.py`); a CSV / TSV / JSON Lines
(.jsonl, .json) / parquet file, or a glob of them (`readers.py`); a Hugging Face hub dataset id
(`imdb`, `user/name`), read from the local cache when offline (`hub.py`). `source_kind(data)`
says which.

Splits. Local data has no splits of its own: `load_dataset_splits` carves train / validation /
test from a seed, stratified by label and independent of the row order of the file
(`splits.py`), and `load_split(data, "test")` returns those same rows (`"all"` returns every
row, unsplit). For a hub id `split` is the hub's own split string (`"train[:1%]"`):
`load_split` returns it as is, `load_dataset_splits` carves the seeded splits out of it. Splits
of size 0 are left out.

Labels are class names or integers (`labels.py`). Ids follow the sorted names (integers
numerically, before strings), or a hub ClassLabel's order; evaluation data is matched to a
model's labels by name (any case), or by id when the label is an integer in range.

User files are decoded as strict UTF-8 by one reader, `read_utf8` (`texts.py`), for every
command: a wrong encoding is an error naming the line and byte, with a fix, rather than
silently replaced characters in the training data or the embeddings.
"""

from plmkit.data.builtin import (
    BUILTIN_DATASETS,
    MOVIE_SNIPPETS,
    MOVIE_SNIPPETS_FILE,
    MOVIE_SNIPPETS_SHA256,
    VADER_INNER_ARCHIVE,
    VADER_SDIST,
    VADER_SDIST_SHA256,
    extract_from_sdist,
    fetch_movie_snippets,
    movie_snippets_path,
)
from plmkit.data.dataset import TextDataset
from plmkit.data.load import (
    SourceKind,
    load_dataset_splits,
    load_split,
    load_texts,
    source_kind,
)
from plmkit.data.readers import TABLE_FORMATS
from plmkit.data.splits import SPLITS
from plmkit.data.texts import gather_texts, read_text_file, read_utf8, read_utf8_stream

__all__ = [
    "BUILTIN_DATASETS",
    "MOVIE_SNIPPETS",
    "MOVIE_SNIPPETS_FILE",
    "MOVIE_SNIPPETS_SHA256",
    "SPLITS",
    "TABLE_FORMATS",
    "VADER_INNER_ARCHIVE",
    "VADER_SDIST",
    "VADER_SDIST_SHA256",
    "SourceKind",
    "TextDataset",
    "extract_from_sdist",
    "fetch_movie_snippets",
    "gather_texts",
    "load_dataset_splits",
    "load_split",
    "load_texts",
    "movie_snippets_path",
    "read_text_file",
    "read_utf8",
    "read_utf8_stream",
    "source_kind",
]
