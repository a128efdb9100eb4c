"""Pre-training on .txt corpora of any size: `pretrain_corpus`'s held-out split and packing,
streamed through `lm.streaming` (a memory-mapped `datasets` Arrow cache) with bounded memory.

When. `PretrainConfig.stream` (`--stream / --no-stream`): True streams, False reads the corpus
into memory (`lm.packing.pack_corpus`), None (the default) streams .txt corpora of
STREAM_FROM_MIB or more. Tables, hub datasets and movie-snippets are always read in memory:
their held-out rows are `plm finetune`'s validation and test rows, chosen over every row.
The threshold is a fixed size, not the machine's free memory, because the two ways hold out
different documents (below): the choice must depend on the data alone, or one command would
train on different text on two machines. Not always either: below it the in-memory path costs
at most a few hundred MiB, keeps the seeded share of documents earlier runs held out (so their
figures and `--resume` stay valid) and cuts the corpus as one piece instead of per batch.

The held-out split, streamed. A document is held out when a keyed hash of its text (blake2b,
the seed as key) falls below `eval_fraction`: about that share of the documents, decided one
at a time without knowing how many there are, and every copy of a duplicated text lands on the
same side (no held-out text is also trained on). Memory keeps only the first held-out texts:
enough characters for `eval_blocks` blocks (HELD_OUT_CHARS_PER_TOKEN a token, generous) and the
pseudo-perplexity texts; they are packed in memory as the in-memory path packs its held-out
part. The training documents stay on disk and are packed by `lm.streaming.pack_documents`.

Under torchrun rank 0 reads, splits and packs (it writes the Arrow cache, under
`$PLMKIT_CACHE/corpora/arrow`) and trains a new tokenizer when asked; the other ranks wait,
then open its block files read-only (`lm.streaming.open_blocks`) and receive the rest (the
held-out texts, counts, the data hash, the tokenizer) by broadcast: they write nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plmkit.config import PretrainConfig
from plmkit.errors import DataError, InvalidInputError
from plmkit.lm.streaming import DocumentTexts, PackedFiles, open_blocks, pack_documents
from plmkit.paths import cache_subdir
from plmkit.training.distributed import broadcast_from_main, is_main_process

STREAM_FROM_MIB = 64
HELD_OUT_CHARS_PER_TOKEN = 16
BYTES_PER_WORKER = 16 << 20  # below this much text a tokenizing process costs more than it saves
HASH_CHUNK = 1 << 24


@dataclass
class StreamedSplit:
    """`pretrain_corpus.TextSplit`'s counterpart for a streamed corpus."""

    files: list[str]
    train_documents: int
    held_out_documents: int
    held_out: list[str]
    """The first held-out texts only (see the module docstring)."""
    held_out_from: str
    digest: str
    train_docs: Any = field(default=None, repr=False)
    """The training documents (a memory-mapped `datasets.Dataset`); rank 0 only."""

    @property
    def train(self) -> DocumentTexts | None:
        """The training texts for a tokenizer to learn from (rank 0 only, else None)."""
        return None if self.train_docs is None else DocumentTexts(self.train_docs)

    def data_hash(self) -> str:
        """sha256 of the files' bytes, in order."""
        return self.digest


def txt_files(data: str) -> list[Path] | None:
    """The .txt files `data` names, or None when it is anything else (a table, hub id...)."""
    from plmkit.data import source_kind
    from plmkit.data.readers import local_files

    if source_kind(data) != "files":
        return None
    paths = local_files(data, allow_txt=True)
    return paths if all(p.suffix.lower() == ".txt" for p in paths) else None


def should_stream(config: PretrainConfig) -> bool:
    """Whether this run streams its corpus (see the module docstring)."""
    if config.stream is False:
        return False
    files = txt_files(config.data)
    if config.stream and files is None:
        raise InvalidInputError(
            f"--stream reads .txt files; {config.data} is not",
            "drop --stream (tables, hub datasets and movie-snippets are read in memory)",
        )
    if files is None:
        return False
    return bool(config.stream) or sum(p.stat().st_size for p in files) >= STREAM_FROM_MIB << 20


def _workers(files: list[str]) -> int | None:
    """Tokenizing processes: one per BYTES_PER_WORKER of text, at most one per core."""
    size = sum(os.path.getsize(path) for path in files)
    workers = min(len(os.sched_getaffinity(0)), max(1, size // BYTES_PER_WORKER))
    return workers if workers > 1 else None


@contextlib.contextmanager
def _progress_bars(show: bool) -> Iterator[None]:
    """datasets' progress bars on or off for the duration."""
    from datasets.utils import logging as ds_logging

    was_on = ds_logging.is_progress_bar_enabled()
    (ds_logging.enable_progress_bar if show else ds_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (ds_logging.enable_progress_bar if was_on else ds_logging.disable_progress_bar)()


def held_out_flags(texts: list[str], seed: int, fraction: float) -> list[bool]:
    """Whether each text is held out: its keyed hash below `fraction` of the range."""
    key = str(seed).encode()
    limit = int(fraction * 2**64)
    return [
        int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8, key=key).digest(), "little")
        < limit
        for t in texts
    ]


def files_hash(files: list[str]) -> str:
    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
        digest.update(b"\x00")
    return digest.hexdigest()


def _head(held: Any, config: PretrainConfig) -> list[str]:
    """The first held-out texts: enough characters for eval_blocks blocks and enough texts
    for pseudo-perplexity (and a few probes)."""
    chars_wanted = config.eval_blocks * config.block_size * HELD_OUT_CHARS_PER_TOKEN
    texts_wanted = config.pseudo_perplexity_texts + 10
    texts: list[str] = []
    chars = 0
    for batch in held.iter(batch_size=1000):
        for text in batch["text"]:
            if chars >= chars_wanted and len(texts) >= texts_wanted:
                return texts
            texts.append(text)
            chars += len(text)
    return texts


def split_files(config: PretrainConfig) -> StreamedSplit:
    """Read the .txt files into the Arrow cache and split them (rank 0; the others receive
    the split from it)."""
    from plmkit.lm.streaming import read_documents

    found: dict[str, Any] | None = None
    docs = train = None
    if is_main_process():
        files = [str(p) for p in txt_files(config.data) or []]
        workers = _workers(files)
        seed, fraction = config.seed, config.eval_fraction
        with _progress_bars(config.show_progress):
            docs = read_documents(
                files, cache_dir=arrow_cache(), documents="auto", num_proc=workers
            )
            train = docs.filter(
                lambda texts: [not h for h in held_out_flags(texts, seed, fraction)],
                batched=True,
                input_columns="text",
                num_proc=workers,
            )
            held = docs.filter(
                lambda texts: held_out_flags(texts, seed, fraction),
                batched=True,
                input_columns="text",
                num_proc=workers,
            )
        found = {
            "files": files,
            "train_documents": len(train),
            "held_out_documents": len(held),
            "held_out": _head(held, config),
            "held_out_from": f"a hashed {fraction:.0%} of the documents (seed {seed})",
            "digest": files_hash(files),
        }
    found = broadcast_from_main(found)
    if not found["train_documents"] or not found["held_out_documents"]:
        n_docs = found["train_documents"] + found["held_out_documents"]
        raise DataError(
            f"{config.data} has {n_docs} documents: too few to hold some out for evaluation",
            fix="add text (a few hundred sentences at least)",
        )
    return StreamedSplit(**found, train_docs=train)


def arrow_cache() -> Path:
    """Where streamed corpora live (rank 0 creates it)."""
    return cache_subdir("corpora") / "arrow"


def pack_train(split: StreamedSplit, tokenizer: Any, config: PretrainConfig) -> PackedFiles:
    """The training documents packed into blocks on disk (by rank 0; the others open its
    Arrow files)."""
    found: dict[str, Any] | None = None
    packed = None
    if is_main_process():
        with _progress_bars(config.show_progress):
            packed = pack_documents(
                split.train_docs,
                tokenizer,
                config.block_size,
                num_proc=_workers(split.files),
                cache_dir=arrow_cache(),
            )
        found = {
            "files": packed.files,
            "n_lines": packed.n_lines,
            "n_tokens": packed.n_tokens,
            "separator": packed.separator,
            "cache_dir": str(packed.cache_dir),
        }
    found = broadcast_from_main(found)
    if packed is not None:
        return packed
    return PackedFiles(
        dataset=open_blocks(found["files"]),
        block_size=config.block_size,
        n_lines=found["n_lines"],
        cache_dir=Path(found["cache_dir"]),
        n_tokens=found["n_tokens"],
        separator=found["separator"],
    )
