"""Pack text files of any size into blocks on disk (a memory-mapped `datasets` Arrow cache).

    blocks = pack_files(["corpus/*.txt"], tokenizer, block_size=128, num_proc=2)
    blocks.n_blocks, blocks.dataset[0]["input_ids"]      # (L,) ids, read from the memory map

`pack_corpus` (lm.packing) holds every text and every token in memory; this does the same job
through `datasets`: the files are read line by line into an Arrow table on disk
(`load_dataset("text")`), tokenized `batch_rows` lines at a time over `num_proc` processes, and
cut into blocks of exactly `block_size` tokens (HF `run_mlm.py`'s `group_texts`: each batch is
concatenated and cut; its tail shorter than a block is dropped, at most one block's worth per
`batch_rows` lines). Every step writes Arrow files under `cache_dir` that are memory-mapped, not
loaded, so memory stays bounded by one batch per process whatever the corpus size; a rerun on
the same files reuses the cache (datasets fingerprints the files and the functions).

Under torchrun every rank maps the same Arrow files (the page cache holds them once) and the
Trainer's sampler hands each rank its own blocks, so no rank keeps another's share. For a corpus
read as a stream instead (`as_iterable(blocks, world)`), `split_dataset_by_node` gives each rank
its own shards when the shard count divides by the world size, and otherwise every rank reads
every shard and keeps 1 block in world_size: both are right, the second reads more.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plmkit.errors import DataError, InvalidInputError


@dataclass
class PackedFiles:
    dataset: Any
    """A `datasets.Dataset` of blocks (input_ids, special_tokens_mask), torch-formatted."""
    block_size: int
    n_lines: int
    cache_dir: Path

    @property
    def n_blocks(self) -> int:
        return len(self.dataset)


def _files(patterns: list[str]) -> list[str]:
    found = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    if not found:
        raise DataError(
            f"no text files match {', '.join(patterns)}", "pass .txt files or a glob of them"
        )
    return found


def pack_files(
    patterns: list[str],
    tokenizer: Any,
    block_size: int,
    *,
    cache_dir: str | Path,
    num_proc: int | None = None,
    batch_rows: int = 1000,
    separator: str = "auto",
) -> PackedFiles:
    """Blocks of `block_size` tokens from every line of the files (see the module docstring).
    `separator`: template (the tokenizer's [CLS] .. [SEP]), eos, or auto (template if the
    tokenizer adds tokens, else eos)."""
    from datasets import load_dataset

    if block_size < 1:
        raise InvalidInputError(f"block_size must be > 0, got {block_size}", "e.g. 128")
    if separator == "auto":
        separator = "template" if tokenizer.num_special_tokens_to_add(pair=False) else "eos"
    if separator not in ("template", "eos"):
        raise InvalidInputError(f"unknown separator {separator!r}", "use template, eos or auto")
    eos = [tokenizer.eos_token_id] if separator == "eos" else []
    specials = set(tokenizer.all_special_ids)
    cache_dir = Path(cache_dir)
    lines = load_dataset(
        "text", data_files=_files(patterns), split="train", cache_dir=str(cache_dir)
    )
    lines = lines.filter(lambda row: bool(row["text"].strip()), num_proc=num_proc)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(
            batch["text"],
            add_special_tokens=separator == "template",
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )["input_ids"]
        return {"input_ids": [ids + eos for ids in encoded]}

    def group(batch: dict[str, list]) -> dict[str, list]:
        flat = [token for ids in batch["input_ids"] for token in ids]
        kept = len(flat) // block_size * block_size
        blocks = [flat[i : i + block_size] for i in range(0, kept, block_size)]
        return {
            "input_ids": blocks,
            "special_tokens_mask": [[int(t in specials) for t in block] for block in blocks],
        }

    tokens = lines.map(
        tokenize, batched=True, batch_size=batch_rows, num_proc=num_proc, remove_columns=["text"]
    )
    blocks = tokens.map(group, batched=True, batch_size=batch_rows, num_proc=num_proc)
    if len(blocks) == 0:
        raise DataError(
            f"the files hold fewer tokens than one block of {block_size}",
            "use a smaller --block-size or more text",
        )
    return PackedFiles(
        dataset=blocks.with_format("torch"),
        block_size=block_size,
        n_lines=len(lines),
        cache_dir=cache_dir,
    )


def as_iterable(blocks: PackedFiles, rank: int, world_size: int, shards: int = 8) -> Any:
    """The blocks as an `IterableDataset` (use with the Trainer's max_steps), this rank's part:
    `split_dataset_by_node` hands out whole shards when `shards` divides by `world_size`, else
    every rank reads every shard and keeps 1 block in `world_size` (see the module docstring)."""
    from datasets.distributed import split_dataset_by_node

    stream = blocks.dataset.with_format(None).to_iterable_dataset(num_shards=shards)
    return split_dataset_by_node(stream, rank=rank, world_size=world_size).with_format("torch")
