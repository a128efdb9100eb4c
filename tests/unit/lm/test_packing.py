"""Tests for plmkit.lm.packing: exact blocks, order, specials, cache, errors, both tokenizers."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from plmkit.errors import InvalidInputError
from plmkit.lm.collator import MlmCollator
from plmkit.lm.masking import IGNORE_INDEX
from plmkit.lm.packing import cache_key, pack_corpus, padded_baseline_stats

EOS = "<|endoftext|>"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Packing concatenates documents and cuts them into blocks.",
    "",
    "Unbelievably, tokenization of hyperparameters is uncharacteristically tricky!",
    "   ",
    "Short one.",
    "A slightly longer document about language models, masking and pre-training on a CPU.",
] * 4


@pytest.fixture(scope="module")
def gpt_tokenizer(tmp_path_factory):
    """A tiny byte-level BPE (GPT-2 style) with an eos token, trained on a few sentences."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([t for t in TEXTS if t.strip()], trainer)
    path = tmp_path_factory.mktemp("gpt_tokenizer") / "tokenizer.json"
    tokenizer.save(str(path))
    return PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=EOS)


class CountingTokenizer:
    """Delegates to a real tokenizer and counts tokenization calls (through its Rust backend,
    which the packers call directly, or through the tokenizer itself)."""

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._tokenizer(*args, **kwargs)

    @property
    def backend_tokenizer(self):
        counter = self

        class Counting:
            def __init__(self, backend) -> None:
                self.backend = backend

            def to_str(self) -> str:
                return self.backend.to_str()

            @classmethod
            def from_str(cls, text: str):
                return cls(type(counter._tokenizer.backend_tokenizer).from_str(text))

            def encode_batch_fast(self, *args, **kwargs):
                counter.calls += 1
                return self.backend.encode_batch_fast(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(self.backend, name)

        return Counting(self._tokenizer.backend_tokenizer)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def per_doc_ids(tokenizer, texts, *, template: bool, eos: bool) -> list[int]:
    ids: list[int] = []
    for text in texts:
        if text.strip():
            ids += tokenizer(text, add_special_tokens=template)["input_ids"]
            ids += [tokenizer.eos_token_id] if eos else []
    return ids


def test_bert_blocks_are_full_ordered_and_mark_separators(bert_tokenizer, tmp_path):
    corpus = pack_corpus(TEXTS, bert_tokenizer, 16, cache_dir=tmp_path)
    expected = per_doc_ids(bert_tokenizer, TEXTS, template=True, eos=False)
    n_blocks = len(expected) // 16
    assert corpus.mode == "template"
    assert corpus.input_ids.shape == (n_blocks, 16) and corpus.input_ids.dtype == torch.long
    assert corpus.input_ids.flatten().tolist() == expected[: n_blocks * 16]
    assert corpus.n_tokens == len(expected)
    assert corpus.n_dropped_tokens == len(expected) - n_blocks * 16 < 16
    assert corpus.n_docs == sum(bool(t.strip()) for t in TEXTS)
    assert not (corpus.input_ids == bert_tokenizer.pad_token_id).any()
    separators = torch.isin(
        corpus.input_ids, torch.tensor([bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id])
    )
    assert torch.equal(corpus.special_tokens_mask, separators)
    assert corpus.input_ids[0, 0] == bert_tokenizer.cls_token_id


def test_gpt_style_appends_eos_between_documents(gpt_tokenizer, tmp_path):
    corpus = pack_corpus(TEXTS, gpt_tokenizer, 32, cache_dir=tmp_path)
    expected = per_doc_ids(gpt_tokenizer, TEXTS, template=False, eos=True)
    assert corpus.mode == "eos"
    assert corpus.input_ids.shape == (len(expected) // 32, 32)
    assert corpus.input_ids.flatten().tolist() == expected[: corpus.input_ids.numel()]
    eos_positions = corpus.input_ids == gpt_tokenizer.eos_token_id
    assert torch.equal(corpus.special_tokens_mask, eos_positions)
    assert int(eos_positions.sum()) >= corpus.n_docs - 2  # the dropped tail may hold a few


def test_none_mode_is_plain_concatenation(gpt_tokenizer, tmp_path):
    corpus = pack_corpus(TEXTS, gpt_tokenizer, 8, add_special_tokens="none", cache_dir=tmp_path)
    expected = per_doc_ids(gpt_tokenizer, TEXTS, template=False, eos=False)
    assert corpus.input_ids.flatten().tolist() == expected[: corpus.input_ids.numel()]
    assert not corpus.special_tokens_mask.any()


def test_cache_hit_is_identical_and_does_not_retokenize(bert_tokenizer, tmp_path):
    counting = CountingTokenizer(bert_tokenizer)
    first = pack_corpus(TEXTS, counting, 16, cache_dir=tmp_path)
    calls_after_first = counting.calls
    assert calls_after_first >= 1 and not first.from_cache
    second = pack_corpus(TEXTS, counting, 16, cache_dir=tmp_path)
    assert counting.calls == calls_after_first, "a cache hit must not tokenize again"
    assert second.from_cache and second.cache_path == first.cache_path
    assert torch.equal(second.input_ids, first.input_ids)
    assert second.input_ids.dtype == torch.long
    assert torch.equal(second.special_tokens_mask, first.special_tokens_mask)
    assert (second.n_docs, second.n_tokens, second.n_dropped_tokens) == (
        first.n_docs,
        first.n_tokens,
        first.n_dropped_tokens,
    )
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [first.cache_path.name], "only the final file, no temp leftovers"
    assert first.cache_path.suffix == ".safetensors"


def test_cache_key_changes_with_every_input(bert_tokenizer, gpt_tokenizer, tmp_path):
    base = cache_key(TEXTS, bert_tokenizer, 16, "template")
    assert base == cache_key(list(TEXTS), bert_tokenizer, 16, "template")
    assert base != cache_key(TEXTS, bert_tokenizer, 32, "template")
    assert base != cache_key(TEXTS, bert_tokenizer, 16, "none")
    assert base != cache_key(TEXTS, gpt_tokenizer, 16, "template")
    assert base != cache_key(TEXTS[:-1], bert_tokenizer, 16, "template")
    assert cache_key(["ab", "c"], bert_tokenizer, 16, "template") != cache_key(
        ["a", "bc"], bert_tokenizer, 16, "template"
    )
    a = pack_corpus(TEXTS, bert_tokenizer, 16, cache_dir=tmp_path)
    b = pack_corpus(TEXTS, bert_tokenizer, 32, cache_dir=tmp_path)
    assert a.cache_path != b.cache_path and not b.from_cache
    assert b.input_ids.shape[1] == 32


def test_cache_key_ignores_runtime_truncation_state(bert_tokenizer):
    before = cache_key(TEXTS, bert_tokenizer, 16, "template")
    bert_tokenizer("some text " * 50, truncation=True, max_length=7, padding="max_length")
    assert cache_key(TEXTS, bert_tokenizer, 16, "template") == before


def test_corrupt_cache_file_is_rebuilt(bert_tokenizer, tmp_path):
    first = pack_corpus(TEXTS, bert_tokenizer, 16, cache_dir=tmp_path)
    first.cache_path.write_bytes(b"not a safetensors file")
    again = pack_corpus(TEXTS, bert_tokenizer, 16, cache_dir=tmp_path)
    assert not again.from_cache and torch.equal(again.input_ids, first.input_ids)
    assert pack_corpus(TEXTS, bert_tokenizer, 16, cache_dir=tmp_path).from_cache


def test_default_cache_dir_follows_plmkit_cache(bert_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path))
    corpus = pack_corpus(TEXTS, bert_tokenizer, 16)
    assert corpus.cache_path.parent == tmp_path / "corpora" and corpus.cache_path.is_file()
    uncached = pack_corpus(TEXTS[:3], bert_tokenizer, 4, use_cache=False)
    assert uncached.cache_path is None
    assert len(list((tmp_path / "corpora").iterdir())) == 1


def test_too_short_corpus_and_bad_arguments(bert_tokenizer, tmp_path):
    with pytest.raises(InvalidInputError) as info:
        pack_corpus(["tiny"], bert_tokenizer, 64, cache_dir=tmp_path)
    assert "--block-size" in info.value.fix and "3" in info.value.fix
    with pytest.raises(InvalidInputError):
        pack_corpus(["", "  "], bert_tokenizer, 2, cache_dir=tmp_path)
    with pytest.raises(InvalidInputError):
        pack_corpus(TEXTS, bert_tokenizer, 0, cache_dir=tmp_path)
    with pytest.raises(InvalidInputError):
        pack_corpus("one string", bert_tokenizer, 4, cache_dir=tmp_path)
    with pytest.raises(InvalidInputError):
        pack_corpus(TEXTS, bert_tokenizer, 4, add_special_tokens="bos", cache_dir=tmp_path)
    with pytest.raises(InvalidInputError):
        pack_corpus(TEXTS, bert_tokenizer, 4, add_special_tokens="eos", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_datasets_feed_the_mlm_collator_and_clm_labels(bert_tokenizer, gpt_tokenizer, tmp_path):
    corpus = pack_corpus(TEXTS, bert_tokenizer, 16, cache_dir=tmp_path)
    dataset = corpus.to_dataset()
    assert len(dataset) == corpus.n_blocks
    item = dataset[0]
    assert set(item) == {"input_ids", "attention_mask", "special_tokens_mask"}
    assert item["input_ids"].shape == (16,) and bool(item["attention_mask"].all())
    batch = MlmCollator(bert_tokenizer, mlm_probability=0.5, seed=0)(
        [dataset[i] for i in range(len(dataset))]
    )
    picked = batch["labels"] != IGNORE_INDEX
    assert picked.any() and not (picked & corpus.special_tokens_mask).any()
    assert bool(batch["attention_mask"].all())

    clm = pack_corpus(TEXTS, gpt_tokenizer, 16, cache_dir=tmp_path).to_dataset("clm")
    assert set(clm[0]) == {"input_ids", "attention_mask", "labels"}
    assert torch.equal(clm[0]["labels"], clm[0]["input_ids"])
    with pytest.raises(InvalidInputError):
        corpus.to_dataset("seq2seq")


def test_padded_baseline_stats(bert_tokenizer):
    lines = ["hello world", "", "a b c d e f g h i j k l m n o p"]
    lengths = [len(bert_tokenizer(line)["input_ids"]) for line in lines if line]
    assert lengths == [4, 18]
    stats = padded_baseline_stats(lines, bert_tokenizer, 8)
    assert stats["n_lines"] == 2 and stats["n_truncated_lines"] == 1
    assert stats["n_real_tokens"] == 4 + 8 and stats["n_pad_tokens"] == 4
    assert stats["n_truncated_tokens"] == 10
    assert stats["padding_fraction"] == pytest.approx(4 / 16)
    with pytest.raises(InvalidInputError):
        padded_baseline_stats([""], bert_tokenizer, 8)


def test_show_progress_does_not_change_the_result(gpt_tokenizer):
    quiet = pack_corpus(TEXTS, gpt_tokenizer, 16, use_cache=False)
    loud = pack_corpus(TEXTS, gpt_tokenizer, 16, use_cache=False, show_progress=True)
    assert torch.equal(quiet.input_ids, loud.input_ids)


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_gpt2_dir"])
@pytest.mark.parametrize("specials", [True, False])
def test_batch_encoder_gives_transformers_ids(fixture, specials, request):
    """The packers call the Rust backend directly: the same ids as the transformers call,
    also when an earlier call left truncation set on the backend."""
    from transformers import AutoTokenizer

    from plmkit.lm.packing import batch_encoder

    tokenizer = AutoTokenizer.from_pretrained(request.getfixturevalue(fixture))
    texts = ["the cat sat on the mat .", "Once upon a time, there was a KING!", "a", " x  y "]
    want = tokenizer(texts, add_special_tokens=specials)["input_ids"]
    tokenizer.backend_tokenizer.enable_truncation(max_length=3)
    assert batch_encoder(tokenizer, add_special_tokens=specials)(texts) == want
