"""`plm tokenize`: tokens, ids, special tokens and attention mask for one text."""

from __future__ import annotations

from dataclasses import dataclass

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
    (text,) = require_texts(text)
    tokenizer = loading.cached("tokenizer", model)
    encoding = tokenizer(text, return_special_tokens_mask=True)
    ids = list(encoding["input_ids"])
    return TokenizeResult(
        text=text,
        tokens=tokenizer.convert_ids_to_tokens(ids),
        input_ids=ids,
        attention_mask=list(encoding["attention_mask"]),
        special_tokens={k: str(v) for k, v in tokenizer.special_tokens_map.items()},
        special_positions=[i for i, m in enumerate(encoding["special_tokens_mask"]) if m],
    )
