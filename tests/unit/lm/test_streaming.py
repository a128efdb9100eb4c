"""lm/streaming.py: text files packed into blocks through a memory-mapped datasets cache,
equal to the in-memory pack_corpus when each batch of lines cuts at the same places."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from plmkit.errors import DataError
from plmkit.lm.packing import pack_corpus
from plmkit.lm.streaming import as_iterable, pack_files

LINES = [
    "the cat sat on the mat .",
    "this movie was good and the acting was great .",
    "",
    "once upon a time there was a king and a queen .",
] * 30


@pytest.fixture
def corpus(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("\n".join(LINES[:60]) + "\n")
    second.write_text("\n".join(LINES[60:]) + "\n")
    return tmp_path


def test_blocks_match_the_in_memory_packer(tiny_bert_dir, corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    # one batch for everything: the cuts are pack_corpus's
    blocks = pack_files(
        [str(corpus / "*.txt")], tokenizer, 16, cache_dir=tmp_path / "cache", batch_rows=10_000
    )
    expected = pack_corpus(LINES, tokenizer, 16, use_cache=False)
    assert blocks.n_lines == len([t for t in LINES if t.strip()])
    assert blocks.n_blocks == expected.n_blocks
    ids = torch.stack([row["input_ids"] for row in blocks.dataset])  # (N, L)
    assert torch.equal(ids, expected.input_ids)
    special = torch.stack([row["special_tokens_mask"] for row in blocks.dataset]).bool()
    assert torch.equal(special, expected.special_tokens_mask)


def test_batches_of_lines_each_drop_their_tail(tiny_bert_dir, corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    blocks = pack_files(
        [str(corpus / "*.txt")], tokenizer, 16, cache_dir=tmp_path / "cache", batch_rows=7
    )
    whole = pack_corpus(LINES, tokenizer, 16, use_cache=False)
    assert 0 < blocks.n_blocks <= whole.n_blocks
    assert all(len(row["input_ids"]) == 16 for row in blocks.dataset)


def test_each_rank_streams_its_own_blocks(tiny_bert_dir, corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    blocks = pack_files([str(corpus / "*.txt")], tokenizer, 16, cache_dir=tmp_path / "cache")
    digest = lambda row: tuple(row["input_ids"].tolist())  # noqa: E731
    for shards in (4, 3):  # 4 splits over 2 ranks by shard; 3 does not (1 block in 2 each)
        parts = [[digest(r) for r in as_iterable(blocks, rank, 2, shards)] for rank in (0, 1)]
        assert len(parts[0]) + len(parts[1]) == blocks.n_blocks
        assert sorted(parts[0] + parts[1]) == sorted(digest(r) for r in blocks.dataset)


def test_no_files(tiny_bert_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    with pytest.raises(DataError, match="no text files match"):
        pack_files([str(tmp_path / "*.txt")], tokenizer, 16, cache_dir=tmp_path / "cache")
