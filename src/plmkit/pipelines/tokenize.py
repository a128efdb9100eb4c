"""`plm tokenize`: tokens, ids, special tokens and attention mask for one text.

The tokenizer is the whole model here: preprocess (check the text) -> _forward (run the
tokenizer) -> postprocess (tokens, ids, special tokens and where they sit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plmkit import loading
from plmkit.validation import require_texts


@dataclass
class TokenizeResult:
    text: str
    tokens: list[str]
    input_ids: list[int]
    attention_mask: list[int]
    special_tokens: dict[str, str]
    """role -> token, e.g. {'cls_token': '[CLS]', 'sep_token': '[SEP]', ...}"""
    special_positions: list[int]
    """positions in `tokens` that hold special tokens"""

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def tokenize(text: str, model: str = "minilm") -> TokenizeResult:
    text = preprocess(text)
    tokenizer = loading.cached("tokenizer", model)
    return postprocess(text, _forward(text, tokenizer), tokenizer)


def preprocess(text: str) -> str:
    """The one text, checked non-empty."""
    (text,) = require_texts(text)
    return text


def _forward(text: str, tokenizer: Any) -> Any:
    """The tokenizer's encoding, with the special-tokens mask."""
    return tokenizer(text, return_special_tokens_mask=True)


def postprocess(text: str, encoding: Any, tokenizer: Any) -> TokenizeResult:
    ids = list(encoding["input_ids"])
    return TokenizeResult(
        text=text,
        tokens=tokenizer.convert_ids_to_tokens(ids),
        input_ids=ids,
        attention_mask=list(encoding["attention_mask"]),
        special_tokens={k: str(v) for k, v in tokenizer.special_tokens_map.items()},
        special_positions=[i for i, m in enumerate(encoding["special_tokens_mask"]) if m],
    )
