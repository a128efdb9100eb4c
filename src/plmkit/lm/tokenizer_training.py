"""Train a new tokenizer on a corpus with the `tokenizers` library, the way BERT and GPT-2 do.

- "wordpiece" (BERT, DistilBERT): BERT's normalizer (lowercase, accents stripped, Chinese
  characters split) and pre-tokenizer, a WordPiece model with `##` continuations, the
  specials [PAD] [UNK] [CLS] [SEP] [MASK] and the `[CLS] a [SEP]` / `[CLS] a [SEP] b [SEP]`
  template. `##` continuations keep whole-word masking working (`collator.MlmCollator`).
- "bpe" (GPT-2, Llama): byte-level BPE over the 256-byte alphabet, so no text is ever unknown;
  one special, `<|endoftext|>`, used as eos / bos / unk (GPT-2's convention). No pad token:
  `loading.load_tokenizer` sets pad = eos, as it does for GPT-2.

The result is a `PreTrainedTokenizerFast`, so the rest of plmkit (packing, masking, the
pipelines, `save_pretrained`) treats it like any tokenizer from the hub.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from plmkit.errors import InvalidInputError
from plmkit.lm.streaming import DocumentTexts
from plmkit.validation import require_texts

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

KINDS = ("wordpiece", "bpe")
WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BPE_EOS = "<|endoftext|>"
MIN_VOCAB = {"wordpiece": 100, "bpe": 300}  # bpe: the 256 bytes + the special + a few merges
BATCH = 1000  # texts handed to the trainer at a time


def kind_for_arch(arch: str) -> str:
    """The tokenizer an architecture was designed with: WordPiece for BERTs, BPE for GPTs."""
    return "wordpiece" if arch in ("bert", "distilbert") else "bpe"


def _batches(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(texts), BATCH):
        yield texts[start : start + BATCH]


def train_tokenizer(
    texts: Sequence[str],
    kind: str = "wordpiece",
    vocab_size: int = 8000,
    *,
    lowercase: bool = True,
    model_max_length: int = 512,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """A new tokenizer trained on `texts`; `vocab_size` includes the special tokens.

    `lowercase` applies to WordPiece only (byte-level BPE keeps case, like GPT-2). The
    vocabulary can come out smaller than asked when the corpus has fewer distinct pieces.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, DocumentTexts):  # a memory-mapped corpus: walked in batches, not listed
        if not len(texts):
            raise InvalidInputError("no training text given", "pass at least one training text")
    else:
        texts = require_texts(list(texts), "training text")
    if kind not in KINDS:
        raise InvalidInputError(
            f"unknown tokenizer kind {kind!r}", f"use one of {', '.join(KINDS)}"
        )
    if (
        isinstance(vocab_size, bool)
        or not isinstance(vocab_size, int)
        or vocab_size < MIN_VOCAB[kind]
    ):
        raise InvalidInputError(
            f"vocab_size {vocab_size!r} is too small for a {kind} tokenizer",
            f"pass --vocab-size {MIN_VOCAB[kind]} or more (8000 suits a small corpus)",
        )
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(WORDPIECE_SPECIALS),
            continuing_subword_prefix="##",
            show_progress=False,
        )
        tok.train_from_iterator(_batches(texts), trainer, length=len(texts))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
            model_max_length=model_max_length,
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[BPE_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_batches(texts), trainer, length=len(texts))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=BPE_EOS,
        bos_token=BPE_EOS,
        unk_token=BPE_EOS,
        model_max_length=model_max_length,
    )
