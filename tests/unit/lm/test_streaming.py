"""lm/streaming.py: text files packed into blocks through a memory-mapped datasets cache,
equal to the in-memory pack_corpus when each batch of lines cuts at the same places."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from plmkit.errors import DataError
from plmkit.lm.packing import pack_corpus
from plmkit.lm.streaming import (
    DocumentTexts,
    as_iterable,
    has_paragraphs,
    open_blocks,
    pack_files,
    read_documents,
)
from plmkit.lm.tokenizer_training import train_tokenizer

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
    assert (blocks.n_tokens, blocks.n_dropped_tokens) == (
        expected.n_tokens,
        expected.n_dropped_tokens,
    )
    item = blocks.to_dataset("mlm")[1]  # what the Trainer gets: PackedDataset's dict
    reference = expected.to_dataset("mlm")[1]
    assert set(item) == set(reference)
    for key, value in reference.items():
        assert item[key].dtype == value.dtype and torch.equal(item[key], value)
    assert torch.equal(blocks.to_dataset("clm")[1]["labels"], expected.input_ids[1])


def test_other_ranks_open_the_same_blocks_read_only(tiny_bert_dir, corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    blocks = pack_files(
        [str(corpus / "*.txt")], tokenizer, 16, cache_dir=tmp_path / "cache", num_proc=2
    )
    assert len(blocks.files) == 2  # one Arrow file per tokenizing process
    opened = open_blocks(blocks.files)
    assert len(opened) == blocks.n_blocks
    pairs = zip(opened, blocks.dataset, strict=True)
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in pairs)


def test_documents_are_lines_or_paragraphs_as_read_txt_reads_them(tmp_path):
    from plmkit.data.readers import read_txt

    lines = tmp_path / "lines.txt"
    lines.write_text("\ufeffone  line\ntwo\tlines \n\n  \n")  # blank lines at the end only
    paragraphs = tmp_path / "paragraphs.txt"
    paragraphs.write_text("a first\nparagraph\n \nthe second\r\n\r\n\n\nthird\n")
    assert not has_paragraphs(lines) and has_paragraphs(paragraphs)
    for path in (lines, paragraphs):
        docs = read_documents([str(path)], cache_dir=tmp_path / "cache", documents="auto")
        assert docs["text"] == read_txt(path, "auto")
    both = read_documents([str(tmp_path / "*.txt")], cache_dir=tmp_path / "cache", documents="auto")
    assert both["text"] == read_txt(lines, "auto") + read_txt(paragraphs, "auto")
    split_lines = read_documents([str(paragraphs)], cache_dir=tmp_path / "c2", documents="lines")
    assert split_lines["text"] == read_txt(paragraphs, "lines")


def test_not_utf8_is_a_data_error(tmp_path):
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_documents([str(tmp_path / "latin.txt")], cache_dir=tmp_path / "cache")


def test_a_tokenizer_trains_on_documents_without_listing_them(corpus, tmp_path):
    docs = read_documents([str(corpus / "*.txt")], cache_dir=tmp_path / "cache")
    texts = DocumentTexts(docs)
    assert len(texts) == 90 and texts[0] == LINES[0] and texts[:2] == [LINES[0], LINES[1]]
    tokenizer = train_tokenizer(texts, "wordpiece", vocab_size=120, min_frequency=1)
    assert "king" in tokenizer.get_vocab()


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


def test_one_process_packs_in_this_process(tiny_bert_dir, corpus, tmp_path, monkeypatch):
    """datasets' num_proc=1 starts a pool of one and a manager: two more interpreters."""
    import os

    def no_fork():
        raise AssertionError("packing with num_proc=1 forked a process")

    monkeypatch.setattr(os, "fork", no_fork)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    blocks = pack_files([str(corpus / "*.txt")], tokenizer, 16, cache_dir=tmp_path, num_proc=1)
    assert blocks.n_blocks > 0


def test_a_truncating_tokenizer_still_packs_whole_lines(tiny_bert_dir, corpus, tmp_path):
    """Packing calls the fast tokenizer's backend directly, on a copy without the truncation
    an earlier call may have left set on it."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    tokenizer.backend_tokenizer.enable_truncation(max_length=4)
    blocks = pack_files([str(corpus / "*.txt")], tokenizer, 16, cache_dir=tmp_path)
    tokenizer.backend_tokenizer.no_truncation()
    assert blocks.n_tokens == pack_corpus(LINES, tokenizer, 16, use_cache=False).n_tokens
