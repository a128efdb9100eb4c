"""plmkit.lm.tokenizer_training: WordPiece the BERT way, byte-level BPE the GPT-2 way, bad input."""

import pytest

from plmkit.errors import InvalidInputError
from plmkit.lm.collator import MlmCollator
from plmkit.lm.packing import pack_corpus
from plmkit.lm.tokenizer_training import kind_for_arch, train_tokenizer

TEXTS = [
    "this movie was good and the acting was great .",
    "a tedious mess of a film , boring and dull .",
    "the best movie ever , funny and moving !",
    "the worst film ever , the plot was a mess .",
    "once upon a time there was a king and a queen .",
] * 20


def test_wordpiece_has_bert_specials_template_and_continuations(tmp_path):
    tokenizer = train_tokenizer(TEXTS, "wordpiece", vocab_size=150)
    assert len(tokenizer) <= 150
    assert [tokenizer.pad_token, tokenizer.unk_token, tokenizer.mask_token] == [
        "[PAD]",
        "[UNK]",
        "[MASK]",
    ]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("This movie was [MASK].")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "[MASK]" in tokens and "this" in tokens  # lowercased, mask kept whole
    assert tokenizer.backend_tokenizer.model.continuing_subword_prefix == "##"
    assert tokenizer.tokenize("filmed") == ["film", "##e", "##d"]
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("the plot")["input_ids"] == tokenizer("the plot")["input_ids"]


def test_wordpiece_tokenizer_works_with_packing_and_whole_word_masking():
    tokenizer = train_tokenizer(TEXTS, "wordpiece", vocab_size=150)
    corpus = pack_corpus(TEXTS, tokenizer, 16, use_cache=False)
    assert corpus.mode == "template"
    batch = MlmCollator(tokenizer, whole_word=True, seed=0)(
        [corpus.to_dataset("mlm")[i] for i in range(corpus.n_blocks)]
    )
    special = corpus.special_tokens_mask.bool()
    assert (batch["labels"][special] == -100).all()


def test_bpe_is_byte_level_with_eos_and_round_trips():
    tokenizer = train_tokenizer(TEXTS, "bpe", vocab_size=300)
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.pad_token is None
    text = "Ünïcode déjà vu 🎬 never seen"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids  # bytes: nothing is unknown
    assert tokenizer.decode(ids) == text
    assert pack_corpus(TEXTS, tokenizer, 16, use_cache=False).mode == "eos"


def test_kind_for_arch():
    assert [kind_for_arch(a) for a in ("bert", "distilbert", "gpt2", "llama")] == [
        "wordpiece",
        "wordpiece",
        "bpe",
        "bpe",
    ]


@pytest.mark.parametrize(
    "texts, kind, vocab_size, message",
    [
        ([], "wordpiece", 1000, "no training text"),
        (["ok", "  "], "wordpiece", 1000, "empty training text"),
        (TEXTS, "unigram", 1000, "unknown tokenizer kind"),
        (TEXTS, "bpe", 100, "too small"),
        (TEXTS, "wordpiece", "big", "too small"),
    ],
)
def test_bad_input(texts, kind, vocab_size, message):
    with pytest.raises(InvalidInputError, match=message):
        train_tokenizer(texts, kind, vocab_size)
