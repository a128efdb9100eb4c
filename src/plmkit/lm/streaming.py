"""Pack text files of any size into blocks on disk (a memory-mapped `datasets` Arrow cache).

    blocks = pack_files(["corpus/*.txt"], tokenizer, block_size=128, num_proc=2)
    blocks.n_blocks, blocks.dataset[0]["input_ids"]      # (L,) ids, read from the memory map

`pack_corpus` (lm.packing) holds every text and every token in memory; this does the same job
through `datasets` in two steps a caller may also take apart:
- `read_documents`: the files are read into an Arrow table on disk (`load_dataset("text")`),
  one document a line or a paragraph (the rule of `data.readers.read_txt`: "auto" takes
  paragraphs when a file has a blank line between texts), whitespace collapsed, empty
  documents dropped;
- `pack_documents`: tokenized `batch_rows` documents at a time over `num_proc` processes and
  cut into blocks of exactly `block_size` tokens (HF `run_mlm.py`'s `group_texts`: each batch
  is concatenated and cut; its tail shorter than a block is dropped, at most one block's worth
  per `batch_rows` documents). Ids are stored as int32 and the special-token flags as int8.
Every step writes Arrow files under `cache_dir` that are memory-mapped, not loaded, so memory
stays bounded by one batch per process whatever the corpus size; a rerun on the same files
reuses the cache (datasets fingerprints the files and the functions).

Under torchrun every rank maps the same Arrow files (the page cache holds them once; the ranks
that write nothing open them with `open_blocks`) and the Trainer's sampler hands each rank its
own blocks, so no rank keeps another's share. For a corpus read as a stream instead
(`as_iterable(blocks, world)`), `split_dataset_by_node` gives each rank its own shards when the
shard count divides by the world size, and otherwise every rank reads every shard and keeps 1
block in world_size: both are right, the second reads more.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from plmkit.errors import DataError, InvalidInputError
from plmkit.lm.packing import batch_encoder

PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# read_txt's "auto" rule: a blank line between two texts
BLANK_BETWEEN_TEXTS = re.compile(rb"\S[ \t]*\r?\n[ \t]*\r?\n\s*\S")
SCAN_CHUNK = 1 << 24  # bytes read at a time when looking for a blank line
BATCH_ROWS = 10_000
"""Rows per map batch and per Arrow record batch. A memory-mapped table keeps every record
batch's metadata in memory, about 1.5 KB each: at datasets' 1,000 rows a batch, a 4 GiB
corpus of 96.5M lines took 140 MB for the text table alone, and as much again for each
table after it, enough to break a 400 MiB memory limit (bench/scale_out.py)."""


@dataclass
class PackedFiles:
    dataset: Any
    """A `datasets.Dataset` of blocks (input_ids, special_tokens_mask), torch-formatted."""
    block_size: int
    n_lines: int
    """Documents packed (non-empty lines or paragraphs)."""
    cache_dir: Path
    n_tokens: int = 0
    """Tokens after tokenization, separators included, before cutting."""
    separator: str = "template"

    @property
    def n_blocks(self) -> int:
        return len(self.dataset)

    @property
    def n_dropped_tokens(self) -> int:
        """The batches' tails shorter than a block."""
        return self.n_tokens - self.n_blocks * self.block_size

    @property
    def files(self) -> list[str]:
        """The Arrow files holding the blocks, in order (for `open_blocks`)."""
        return [entry["filename"] for entry in self.dataset.cache_files]

    def to_dataset(self, task: str = "mlm") -> BlockDataset:
        """A torch Dataset of dicts for a HF Trainer, as `PackedCorpus.to_dataset` gives."""
        if task not in ("mlm", "clm"):
            raise InvalidInputError(
                f"unknown task {task!r} for a packed dataset", fix="use task='mlm' or 'clm'"
            )
        return BlockDataset(self.dataset, task)


class BlockDataset(Dataset):
    """One block per item, read from the memory map: input_ids, attention_mask and
    special_tokens_mask (mlm) or labels (clm), each (L,)."""

    def __init__(self, blocks: Any, task: str) -> None:
        self.blocks = blocks
        self.task = task

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.blocks[int(index)]
        input_ids = row["input_ids"].long()  # (L,)
        item = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        if self.task == "mlm":
            item["special_tokens_mask"] = row["special_tokens_mask"].bool()
        else:
            item["labels"] = input_ids.clone()
        return item


class DocumentTexts(Sequence):
    """The documents' texts as a read-only sequence over the memory map (slices read one
    batch), for code that walks texts in batches (`lm.tokenizer_training`)."""

    def __init__(self, documents: Any) -> None:
        self.documents = documents

    def __len__(self) -> int:
        return len(self.documents)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.documents[index]["text"]
        return self.documents[int(index)]["text"]


def _files(patterns: list[str]) -> list[str]:
    found = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    if not found:
        raise DataError(
            f"no text files match {', '.join(patterns)}", "pass .txt files or a glob of them"
        )
    return found


def has_paragraphs(path: str | Path) -> bool:
    """Whether the file has a blank line between two texts (read in chunks, stops early)."""
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            if BLANK_BETWEEN_TEXTS.search(tail + chunk):
                return True
            tail = chunk[-4096:]
    return False


def read_documents(
    patterns: list[str],
    *,
    cache_dir: str | Path,
    documents: str = "lines",
    num_proc: int | None = None,
) -> Any:
    """The files' documents as a memory-mapped `datasets.Dataset` with one column, "text"
    (see the module docstring). `documents`: lines, paragraphs or auto (decided per file)."""
    from datasets import concatenate_datasets, load_dataset

    num_proc = _processes(num_proc)
    if documents not in ("lines", "paragraphs", "auto"):
        raise InvalidInputError(f"documents={documents!r}", fix="use auto, lines or paragraphs")
    runs: list[tuple[str, list[str]]] = []  # consecutive files read the same way, in order
    for path in _files(patterns):
        mode = documents
        if mode == "auto":
            mode = "paragraphs" if has_paragraphs(path) else "lines"
        if runs and runs[-1][0] == mode:
            runs[-1][1].append(path)
        else:
            runs.append((mode, [path]))

    def clean(batch: dict[str, list]) -> dict[str, list]:
        chunks = (c for text in batch["text"] for c in PARAGRAPH_BREAK.split(text))
        return {"text": [" ".join(c.split()) for c in chunks if c.strip()]}

    parts = []
    for mode, files in runs:
        try:
            raw = load_dataset(
                "text",
                data_files=files,
                split="train",
                cache_dir=str(cache_dir),
                encoding="utf-8-sig",  # strict UTF-8, a leading BOM dropped (as read_utf8)
                sample_by="paragraph" if mode == "paragraphs" else "line",
                writer_batch_size=BATCH_ROWS,
            )
        except Exception as error:  # datasets wraps the decoder's error in its own
            if not isinstance(error.__cause__ or error, UnicodeDecodeError):
                raise
            raise DataError(
                f"{', '.join(files)}: not UTF-8 text ({error.__cause__ or error})",
                "re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT",
            ) from None
        parts.append(
            raw.map(
                clean,
                batched=True,
                batch_size=BATCH_ROWS,
                writer_batch_size=BATCH_ROWS,
                num_proc=num_proc,
                remove_columns=["text"],
            )
        )
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def pack_documents(
    docs: Any,
    tokenizer: Any,
    block_size: int,
    *,
    num_proc: int | None = None,
    batch_rows: int = BATCH_ROWS,
    separator: str = "auto",
    cache_dir: str | Path = "",
) -> PackedFiles:
    """Blocks of `block_size` tokens from the "text" column of `docs` (see the module
    docstring). `separator`: template (the tokenizer's [CLS] .. [SEP]), eos, or auto (template
    if the tokenizer adds tokens, else eos)."""
    import pyarrow.compute as pc
    from datasets import Features, List, Value

    num_proc = _processes(num_proc)
    if block_size < 1:
        raise InvalidInputError(f"block_size must be > 0, got {block_size}", "e.g. 128")
    if separator == "auto":
        separator = "template" if tokenizer.num_special_tokens_to_add(pair=False) else "eos"
    if separator not in ("template", "eos"):
        raise InvalidInputError(f"unknown separator {separator!r}", "use template, eos or auto")
    eos = [tokenizer.eos_token_id] if separator == "eos" else []
    specials = np.asarray(sorted(tokenizer.all_special_ids), dtype=np.int32)

    encode = batch_encoder(tokenizer, add_special_tokens=separator == "template")

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        ids = [row + eos for row in encode(batch["text"])]
        return {"input_ids": ids, "length": [len(row) for row in ids]}

    def group(batch: Any) -> dict[str, np.ndarray]:  # batch: a pyarrow table
        flat = pc.list_flatten(batch["input_ids"]).to_numpy()  # (T,)
        n_blocks = len(flat) // block_size
        blocks = flat[: n_blocks * block_size].reshape(n_blocks, block_size)  # (N, L)
        return {"input_ids": blocks, "special_tokens_mask": np.isin(blocks, specials)}

    token_features = Features({"input_ids": List(Value("int32")), "length": Value("int32")})
    block_features = Features(
        {
            "input_ids": List(Value("int32"), length=block_size),
            "special_tokens_mask": List(Value("int8"), length=block_size),
        }
    )
    tokens = docs.map(
        tokenize,
        batched=True,
        batch_size=batch_rows,
        writer_batch_size=batch_rows,
        num_proc=num_proc,
        remove_columns=docs.column_names,
        features=token_features,
    )
    blocks = tokens.with_format("arrow").map(
        group,
        batched=True,
        batch_size=batch_rows,
        writer_batch_size=batch_rows,
        num_proc=num_proc,
        remove_columns=tokens.column_names,
        features=block_features,
    )
    if len(blocks) == 0:
        raise DataError(
            f"the files hold fewer tokens than one block of {block_size}",
            "use a smaller --block-size or more text",
        )
    n_tokens = pc.sum(tokens.data.column("length")).as_py() or 0
    return PackedFiles(
        dataset=blocks.with_format("torch"),
        block_size=block_size,
        n_lines=len(docs),
        cache_dir=Path(cache_dir),
        n_tokens=int(n_tokens),
        separator=separator,
    )


def _processes(num_proc: int | None) -> int | None:
    """datasets' num_proc: None (this process) for one, since num_proc=1 still starts a pool
    of one worker and a manager, two more processes of the whole interpreter."""
    return num_proc if num_proc and num_proc > 1 else None


def pack_files(
    patterns: list[str],
    tokenizer: Any,
    block_size: int,
    *,
    cache_dir: str | Path,
    num_proc: int | None = None,
    batch_rows: int = BATCH_ROWS,
    separator: str = "auto",
    documents: str = "lines",
) -> PackedFiles:
    """`read_documents` then `pack_documents`: blocks of `block_size` tokens from every
    document of the files."""
    docs = read_documents(patterns, cache_dir=cache_dir, documents=documents, num_proc=num_proc)
    return pack_documents(
        docs,
        tokenizer,
        block_size,
        num_proc=num_proc,
        batch_rows=batch_rows,
        separator=separator,
        cache_dir=cache_dir,
    )


def open_blocks(files: list[str]) -> Any:
    """The blocks `PackedFiles.files` names, memory-mapped read-only (nothing is written:
    the ranks of a torchrun run other than 0 open rank 0's blocks this way)."""
    from datasets import Dataset as ArrowDataset
    from datasets import concatenate_datasets

    parts = [ArrowDataset.from_file(path) for path in files]
    blocks = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    return blocks.with_format("torch")


def as_iterable(blocks: PackedFiles, rank: int, world_size: int, shards: int = 8) -> Any:
    """The blocks as an `IterableDataset` (use with the Trainer's max_steps), this rank's part:
    `split_dataset_by_node` hands out whole shards when `shards` divides by `world_size`, else
    every rank reads every shard and keeps 1 block in `world_size` (see the module docstring)."""
    from datasets.distributed import split_dataset_by_node

    stream = blocks.dataset.with_format(None).to_iterable_dataset(num_shards=shards)
    return split_dataset_by_node(stream, rank=rank, world_size=world_size).with_format("torch")
