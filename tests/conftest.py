"""Tiny random BERT / GPT-2 / Llama models built from configs, saved as safetensors in tmp dirs.

They load through the same code paths as real models (`--model <dir>`), in well under a
second, so the default suite needs no downloads and no real weights.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models' backend choices and conversions must not land in the user's ~/.cache/plmkit.
os.environ.setdefault("PLMKIT_CACHE", tempfile.mkdtemp(prefix="plmkit-test-cache-"))

ARTIFACTS = Path(os.environ.get("PLMKIT_ARTIFACTS", Path(__file__).parent / "artifacts"))
"""Where browser tests save their screenshots (git-ignored)."""


def require_chromium():
    """(Chromium's path, playwright.sync_api) for a browser test module, which is one
    skipped line without them (`make browser` installs Debian's chromium)."""
    chromium = Path(os.environ.get("PLMKIT_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        pytest.skip(
            f"no browser at {chromium}: `make browser` installs Debian's chromium",
            allow_module_level=True,
        )
    return chromium, pytest.importorskip("playwright.sync_api", reason="playwright not installed")


WORDS = (
    "the a an cat dog sat on mat movie film was is good bad great awful funny boring "
    "tedious gorgeous moving mess story plot actor acting love hate it this that and "
    "but not very really so of to in with for time once upon there were king queen "
    "review critic scene music long short best worst ever never fun dull"
).split()
CORPUS = [
    "the cat sat on the mat .",
    "this movie was good and the acting was great .",
    "this film was bad , the plot was a tedious mess .",
    "once upon a time there was a king and a queen .",
    "the best movie ever , funny and moving !",
    "the worst film ever , boring and dull .",
] * 4
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _bert_tokenizer(directory: Path):
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    chars = list(letters + ".,!?'") + ["##" + c for c in letters]
    vocab = list(dict.fromkeys(specials + WORDS + chars))
    directory.mkdir(parents=True, exist_ok=True)
    return BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)


def _bpe_tokenizer(eos: str, extra: list[str] | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[eos, *(extra or [])],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS + [" ".join(WORDS)], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, bos_token=eos)


def _save(model, tokenizer, directory: Path) -> Path:
    import torch

    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def _tiny_bert(directory: Path, model_class, **config_overrides) -> Path:
    import torch
    from transformers import BertConfig

    torch.manual_seed(0)
    tokenizer = _bert_tokenizer(directory)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **config_overrides,
    )
    return _save(model_class(config), tokenizer, directory)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A base BertModel (no MLM head), like the embedded minilm."""
    from transformers import BertModel

    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert"), BertModel)


@pytest.fixture(scope="session")
def tiny_bert_mlm_dir(tmp_path_factory) -> Path:
    """A BertForMaskedLM with its head, so fill-mask works."""
    from transformers import BertForMaskedLM

    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert-mlm"), BertForMaskedLM)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A GPT2LMHeadModel whose tokenizer has no pad token (like the real gpt2)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tokenizer = _bpe_tokenizer("<|endoftext|>")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=128,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return _save(GPT2LMHeadModel(config), tokenizer, tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A LlamaForCausalLM with a ChatML chat template (like the embedded smollm2)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = _bpe_tokenizer("<|im_end|>", ["<|im_start|>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    return _save(LlamaForCausalLM(config), tokenizer, tmp_path_factory.mktemp("tiny-llama"))


POSITIVE_WORDS = "good great best fun funny moving gorgeous love".split()
NEGATIVE_WORDS = "bad awful worst boring tedious dull mess hate".split()


def sentiment_rows(n: int = 96, seed: int = 0) -> list[tuple[str, str]]:
    """(text, positive|negative) rows a tiny model can learn: the label is in the words."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        words = POSITIVE_WORDS if label == "positive" else NEGATIVE_WORDS
        filler = rng.sample(["the", "movie", "film", "was", "plot", "acting", "story"], 3)
        text = " ".join(rng.sample(words, rng.randint(1, 3)) + filler + ["."] * rng.randint(0, 4))
        rows.append((text, label))
    return rows


@pytest.fixture(scope="session")
def sentiment_csv(tmp_path_factory) -> Path:
    """A small labelled CSV (text,label) with positive / negative rows."""
    import csv

    path = tmp_path_factory.mktemp("sentiment") / "sentiment.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(sentiment_rows())
    return path


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory, tiny_bert_dir, sentiment_csv) -> Path:
    """tiny_bert_dir fine-tuned on sentiment_csv by `plm finetune`'s recipe (a few seconds)."""
    from plmkit.config import FinetuneConfig
    from plmkit.recipes.finetune_classifier import finetune

    out = tmp_path_factory.mktemp("tiny-classifier")
    config = FinetuneConfig(
        model=str(tiny_bert_dir),
        data=str(sentiment_csv),
        out=str(out),
        epochs=5,
        learning_rate=5e-3,
        batch_size=16,
        bf16=False,
        early_stopping_patience=0,
    )
    return finetune(config).out
