"""The text a pre-training run learns from and is scored on: the held-out split, then both
parts packed into full blocks.

The held-out split. A labelled dataset (movie-snippets, a table with a label column) holds out
exactly the validation and test rows `plm finetune` carves for the same seed, so a model
pre-trained here and then fine-tuned has never seen the texts it is tested on; every other
text of the corpus (movie-snippets' neutral sentences included) is trained on. Unlabelled text
holds out a seeded `eval_fraction` of its documents. A streamed .txt corpus (`pretrain_stream`:
large ones, or `--stream`) holds out a hashed share instead, and its training blocks stay on
disk, memory-mapped.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from typing import Any

from plmkit.config import PretrainConfig
from plmkit.errors import DataError, InvalidInputError
from plmkit.lm.packing import PackedCorpus, pack_corpus
from plmkit.lm.streaming import PackedFiles
from plmkit.recipes.pretrain_stream import StreamedSplit, pack_train
from plmkit.training.distributed import barrier, is_main_process


@dataclass
class TextSplit:
    train: list[str]
    held_out: list[str]
    held_out_from: str
    """How the held-out texts were chosen, for the results JSON."""

    @property
    def held_out_documents(self) -> int:
        return len(self.held_out)

    def data_hash(self) -> str:
        """sha256 of the training and held-out texts, in order."""
        digest = hashlib.sha256()
        for part in (self.train, self.held_out):
            for text in part:
                digest.update(text.encode("utf-8") + b"\n")
            digest.update(b"\x00")
        return digest.hexdigest()


def split_texts(config: PretrainConfig) -> TextSplit:
    """Training and held-out texts of `config.data` (see the module docstring)."""
    from plmkit.data import load_dataset_splits, load_texts

    texts = load_texts(config.data, config.text_column)
    splits = None
    if config.label_column:
        try:
            splits = load_dataset_splits(
                config.data,
                text_column=config.text_column,
                label_column=config.label_column,
                seed=config.seed,
                drop_empty=True,
            )
        except DataError:  # .txt files, no label column, one class: no fine-tuning split
            splits = None
    if splits is not None and ("validation" in splits or "test" in splits):
        held = [t for name in ("validation", "test") if name in splits for t in splits[name].texts]
        held_set = set(held)
        train = [t for t in texts if t not in held_set]
        how = f"the validation + test rows `plm finetune` holds out (seed {config.seed})"
    else:
        order = list(range(len(texts)))
        random.Random(config.seed).shuffle(order)
        n_held = max(1, round(config.eval_fraction * len(texts)))
        held_rows = set(order[:n_held])
        held = [t for i, t in enumerate(texts) if i in held_rows]
        train = [t for i, t in enumerate(texts) if i not in held_rows]
        how = f"a random {config.eval_fraction:.0%} of the documents (seed {config.seed})"
    if not train or not held:
        raise DataError(
            f"{config.data} has {len(texts)} documents: too few to hold some out for evaluation",
            fix="add text (a few hundred sentences at least)",
        )
    return TextSplit(train=train, held_out=held, held_out_from=how)


@dataclass
class Corpus:
    train: PackedCorpus | PackedFiles
    """In memory, or (streamed) blocks in a memory-mapped Arrow cache."""
    held_out: PackedCorpus
    """At most `eval_blocks` blocks of the held-out texts."""


def pack(
    split: TextSplit | StreamedSplit, tokenizer: Any, config: PretrainConfig, model_max_length: int
) -> Corpus:
    """Tokenize once, concatenate and cut both parts into blocks (cached by content hash; a
    streamed split's training part by `pretrain_stream.pack_train`)."""
    if config.block_size > model_max_length:
        raise InvalidInputError(
            f"block_size {config.block_size} is longer than the model's {model_max_length} "
            "positions",
            f"use --block-size {min(model_max_length, 512)} or less",
        )
    # under torchrun rank 0 packs and writes the cache first; the others then read it
    main = is_main_process()
    if isinstance(split, StreamedSplit):
        train: PackedCorpus | PackedFiles = pack_train(split, tokenizer, config)
    else:
        if not main:
            barrier()
        train = pack_corpus(
            split.train,
            tokenizer,
            config.block_size,
            show_progress=config.show_progress,
            write_cache=main,
        )
        if main:
            barrier()
    try:
        held = pack_corpus(split.held_out, tokenizer, config.block_size, write_cache=main)
    except InvalidInputError as error:
        raise DataError(
            f"the held-out text is shorter than one block of {config.block_size} tokens",
            fix=f"use a smaller --block-size or more text ({error.message})",
        ) from None
    keep = min(held.n_blocks, config.eval_blocks)
    held = replace(
        held,
        input_ids=held.input_ids[:keep],
        special_tokens_mask=held.special_tokens_mask[:keep],
    )
    return Corpus(train=train, held_out=held)


def corpus_record(split: TextSplit | StreamedSplit, corpus: Corpus) -> dict[str, Any]:
    """The `corpus` block of the results JSON."""
    train = corpus.train
    streamed = isinstance(train, PackedFiles)
    if streamed:
        documents, separators, cache, from_cache = (
            train.n_lines,
            train.separator,
            str(train.cache_dir),
            None,  # datasets reuses what it can, step by step
        )
    else:
        documents, separators, from_cache = train.n_docs, train.mode, train.from_cache
        cache = str(train.cache_path) if train.cache_path else None
    return {
        "held_out_from": split.held_out_from,
        "train_documents": documents,
        "held_out_documents": split.held_out_documents,
        "block_size": train.block_size,
        "train_blocks": train.n_blocks,
        "train_tokens": train.n_tokens,
        "dropped_tail_tokens": train.n_dropped_tokens,
        "separators": separators,
        "padding_fraction": 0.0,  # packed blocks are full by construction
        "held_out_blocks": corpus.held_out.n_blocks,
        "streamed": streamed,
        "cache": cache,
        "from_cache": from_cache,
    }
