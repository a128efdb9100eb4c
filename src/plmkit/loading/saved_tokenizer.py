"""A model's tokenizer for the inference pipelines, without importing transformers.

`plm encode` on ONNX and `plm generate` on llama.cpp need token ids, padding and decoding;
importing transformers for them cost about 1.5 s of a 2 s warm start. So the first time
`load_inference_tokenizer` sees a model, transformers loads its tokenizer as usual and what
that tokenizer hands its Rust backend is saved under `cache_dir()/tokenizers/`: the
`tokenizers.Tokenizer` exactly as transformers built it (a tokenizer class's own fix-ups
included) and the settings transformers applies around each call (truncation and padding
side, pad id, split_special_tokens, whether decoding cleans up spaces). Later processes
rebuild it with `tokenizers` alone, and `SavedTokenizer` answers the calls the pipelines
make (`__call__`, `pad`, `decode`, `convert_ids_to_tokens`) the way transformers 5 does
(tested against it). Anything else (a chat template, HF generate's stop strings) goes to the
transformers tokenizer, loaded on first use.

Only tokenizers on transformers' `TokenizersBackend` whose class overrides none of those
calls are saved; any other (a slow or sentencepiece tokenizer) is the transformers one.
The file's name hashes the tokenizer files' sizes and times and the transformers and
tokenizers versions, so an edited tokenizer or an upgrade saves it afresh.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from plmkit.loading.locate import model_dir
from plmkit.loading.tokenizer import load_tokenizer
from plmkit.paths import cache_subdir, package_version, read_json, write_json_atomic
from plmkit.registry import ModelSpec, resolve

SCHEMA = 1
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)
MIRRORED = (
    "__call__",
    "_get_padding_truncation_strategies",
    "_encode_plus",
    "set_truncation_and_padding",
    "pad",
    "decode",
    "_decode",
    "clean_up_tokenization",
    "convert_ids_to_tokens",
)
"""What SavedTokenizer does in transformers' place: a class overriding any of it is not saved."""


class SavedTokenizer:
    """A transformers fast tokenizer's backend and call settings, used without transformers."""

    def __init__(self, saved: dict, name: str) -> None:
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_str(saved["backend"])
        self.name = name
        self.model_max_length: int = saved["model_max_length"]
        self.padding_side: str = saved["padding_side"]
        self.truncation_side: str = saved["truncation_side"]
        self.pad_token_id: int | None = saved["pad_token_id"]
        self.split_special_tokens: bool = saved["split_special_tokens"]
        self.clean_up_spaces: bool = saved["clean_up_spaces"]
        self.chat_template: str | dict | None = saved["chat_template"]

    def __call__(
        self,
        text: str | list[str],
        add_special_tokens: bool = True,
        truncation: bool = False,
        max_length: int | None = None,
    ) -> dict[str, list]:
        """{"input_ids", "attention_mask"}: one list per text (a plain list for one str)."""
        if truncation and max_length is None:
            max_length = self.model_max_length if self.model_max_length <= 10**20 else None
        if truncation and max_length is not None:
            self.backend.enable_truncation(
                max_length, stride=0, strategy="longest_first", direction=self.truncation_side
            )
        else:
            self.backend.no_truncation()
        self.backend.no_padding()
        self.backend.encode_special_tokens = self.split_special_tokens
        texts = [text] if isinstance(text, str) else list(text)
        # no offsets asked for: 1,000 movie snippets in 20 ms instead of 26 (Zen 4)
        encodings = self.backend.encode_batch_fast(texts, add_special_tokens=add_special_tokens)
        ids = [e.ids for e in encodings]
        masks = [e.attention_mask for e in encodings]
        if isinstance(text, str):
            return {"input_ids": ids[0], "attention_mask": masks[0]}
        return {"input_ids": ids, "attention_mask": masks}

    def pad(self, encoded: dict, return_tensors: str = "np") -> dict[str, np.ndarray]:
        """Token-id lists padded to the longest: input_ids and attention_mask, (B, T) int64."""
        if return_tensors != "np":
            return self.full.pad(encoded, return_tensors=return_tensors)
        if self.pad_token_id is None:
            raise ValueError("Asking to pad but the tokenizer does not have a padding token.")
        rows = [list(x) for x in encoded["input_ids"]]
        width = max((len(x) for x in rows), default=0)
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)  # (B, T)
        mask = np.zeros((len(rows), width), dtype=np.int64)  # (B, T)
        for row, x in enumerate(rows):
            place = slice(width - len(x), width) if self.padding_side == "left" else slice(len(x))
            input_ids[row, place], mask[row, place] = x, 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def convert_ids_to_tokens(self, ids: int | list[int]) -> str | list[str]:
        if isinstance(ids, int):
            return self.backend.id_to_token(ids)
        vocabulary = self._vocabulary
        return [
            vocabulary[i]
            if 0 <= i < len(vocabulary) and vocabulary[i] is not None
            # an id outside the vocabulary answers as the backend does (None)
            else self.backend.id_to_token(i)
            for i in map(int, ids)
        ]

    @functools.cached_property
    def _vocabulary(self) -> list[str | None]:
        """Token by id (added tokens included): one list lookup per id where `id_to_token`
        is a call into the backend (1,000 movie snippets: 2 ms instead of 8)."""
        vocabulary = self.backend.get_vocab(with_added_tokens=True)
        tokens: list[str | None] = [None] * (max(vocabulary.values(), default=-1) + 1)
        for token, index in vocabulary.items():
            tokens[index] = token
        return tokens

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        text = self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)
        return _clean_up(text) if self.clean_up_spaces else text

    @property
    def full(self) -> Any:
        """The transformers tokenizer (for what this class does not answer itself)."""
        from plmkit.loading.cache import cached

        return cached("tokenizer", self.name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in {"backend", "name", "full"}:  # no loop when unset
            raise AttributeError(name)
        return getattr(self.full, name)


def _clean_up(text: str) -> str:
    """transformers' `clean_up_tokenization` (spaces before punctuation and contractions)."""
    for spaced, joined in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(spaced, joined)
    return text


def saved_path(directory: Path) -> Path:
    """Where the saved tokenizer of the model in `directory` is (or will be)."""
    files = []
    for name in TOKENIZER_FILES:
        path = directory / name
        if path.exists():
            stat = path.stat()
            files.append([name, stat.st_size, stat.st_mtime_ns])
    versions = [package_version(d, "-") for d in ("transformers", "tokenizers")]
    parts = [SCHEMA, str(directory.resolve()), files, versions]
    digest = hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]
    return cache_subdir("tokenizers") / f"{digest}.json"


def describe(tokenizer: Any) -> dict | None:
    """What SavedTokenizer needs of a transformers tokenizer, or None when it cannot stand
    in for it (not on the tokenizers backend, or its class changes a mirrored call)."""
    try:
        from transformers.tokenization_utils_tokenizers import TokenizersBackend
    except ImportError:
        return None
    cls = type(tokenizer)
    if not isinstance(tokenizer, TokenizersBackend) or any(
        getattr(cls, name, None) is not getattr(TokenizersBackend, name, None) for name in MIRRORED
    ):
        return None
    bpe = type(tokenizer.backend_tokenizer.model).__name__ == "BPE"
    force = "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"
    clean_up = bool(tokenizer.clean_up_tokenization_spaces) and (
        not bpe or bool(getattr(tokenizer, force, False))
    )
    template = tokenizer.chat_template
    return {
        "schema": SCHEMA,
        "backend": tokenizer.backend_tokenizer.to_str(),
        "model_max_length": int(tokenizer.model_max_length),
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "pad_token_id": tokenizer.pad_token_id,
        "split_special_tokens": bool(tokenizer.split_special_tokens),
        "clean_up_spaces": clean_up,
        "chat_template": template if isinstance(template, (str, dict)) else None,
    }


def load_inference_tokenizer(spec: ModelSpec | str) -> Any:
    """The model's tokenizer for encode / generate: a SavedTokenizer once one is saved (no
    transformers import), else the transformers tokenizer (saving it when it can)."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    path = saved_path(model_dir(spec))
    saved = read_json(path)
    if saved.get("schema") != SCHEMA:
        tokenizer = load_tokenizer(spec)
        saved = describe(tokenizer)
        if saved is None:
            return tokenizer
        write_json_atomic(path, saved)
    return SavedTokenizer(saved, spec.name)
