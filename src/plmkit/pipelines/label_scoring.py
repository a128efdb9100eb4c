"""Zero- and few-shot classification with a chat decoder: every label scored by its
log-likelihood as the assistant's answer, so every text gets a valid label (no free text to
parse).

    scorer = LabelScorer("smollm2", ["negative", "positive"], examples=[("a joy", "positive")])
    scorer.score(["a tedious mess"]).predictions  # [0]

preprocess (the chat template rendered once around a marker: the shared prefix -- system
prompt, the few-shot turns, the instruction -- and the suffix after the text; each label's
answer tokens, ending with the template's end-of-turn) -> _forward (the prefix once, its KV
cache reused; then per batch of texts ONE forward pass over B x K rows, text + suffix +
label k, right-padded) -> postprocess (per text and label, the summed log-probability of the
label's tokens and of the end-of-turn token, so a label that is a prefix of another, or one
that splits into several tokens, is scored as the whole answer).

The prefix and the rows are tokenized apart; the template puts the text after a newline,
where a BPE tokenizer would split anyway.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plmkit import loading
from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.validation import require_positive, require_texts

DEFAULT_TEMPLATE = (
    "Classify the text as one of: {labels}. Answer with the label only.\n\nText:\n{text}"
)
_TEXT_MARK = "\x1eTEXT\x1e"
_ANSWER_MARK = "\x1eANSWER\x1e"


@dataclass
class LabelScores:
    labels: list[str]
    scores: np.ndarray
    """(N, K) log-likelihood of each label as the answer (label tokens + end of turn)."""
    prompt_tokens: int
    """Tokens of the shared prompt (system, few-shot examples, instruction)."""
    mean_tokens: float
    """Mean tokens the model reads per text: the shared prompt + text + suffix."""
    forward_calls: int

    @property
    def predictions(self) -> list[int]:
        return self.scores.argmax(axis=1).tolist()


def check_template(template: str) -> str:
    """A prompt template must name the labels and place the text once."""
    for field in ("{labels}", "{text}"):
        if field not in template:
            raise InvalidInputError(
                f"the prompt template has no {field} placeholder, so the model "
                + (
                    "is not told which labels to answer with"
                    if field == "{labels}"
                    else "never sees the text"
                ),
                f"put {field} in the template, e.g. {DEFAULT_TEMPLATE!r}",
            )
    if template.count("{text}") != 1:
        raise InvalidInputError(
            "the prompt template holds {text} more than once", "place {text} exactly once"
        )
    return template


class LabelScorer:
    """Scores `labels` as the answer of `model` (a decoder with a chat template)."""

    def __init__(
        self,
        model: str,
        labels: Sequence[str],
        *,
        template: str = DEFAULT_TEMPLATE,
        examples: Sequence[tuple[str, str]] = (),
        system: str | None = None,
        batch_size: int = 8,
    ) -> None:
        self.labels = require_texts(list(labels), "label")
        if len(set(self.labels)) < len(self.labels):
            raise InvalidInputError("a label is given twice", "give each label once")
        require_positive(batch_size, "batch_size")
        self.template = check_template(template)
        for _, label in examples:
            if label not in self.labels:
                raise InvalidInputError(
                    f"the example label {label!r} is not one of {self.labels}",
                    "label the few-shot examples with the scored labels",
                )
        self.model, self.batch_size = model, batch_size
        self.tokenizer = loading.cached("tokenizer", model)
        self.prefix_ids, self.suffix, self.answer_ids = self.preprocess(examples, system)
        self.lm = loading.cached("causal_lm", model)

    def _render(self, messages: list[dict], generation: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )

    def preprocess(
        self, examples: Sequence[tuple[str, str]], system: str | None
    ) -> tuple[list[int], str, list[list[int]]]:
        """(the shared prefix's ids; the text after the marker; each label's answer ids)."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise WrongModelKindError(
                f"'{self.model}' has no chat template, so labels cannot be scored as answers",
                "use an instruct decoder such as --decoder smollm2",
            )
        names = ", ".join(self.labels)
        messages = [{"role": "system", "content": system}] if system else []
        for text, label in examples:
            messages.append({"role": "user", "content": self._user(text, names)})
            messages.append({"role": "assistant", "content": label})
        question = [*messages, {"role": "user", "content": self._user(_TEXT_MARK, names)}]
        prefix, suffix = self._render(question, True).split(_TEXT_MARK)
        answered = self._render([*question, {"role": "assistant", "content": _ANSWER_MARK}], False)
        end_of_turn = answered.split(_ANSWER_MARK, 1)[1].rstrip()
        encode = self.tokenizer
        prefix_ids = encode(prefix, add_special_tokens=False)["input_ids"]
        answers = [
            encode(label + end_of_turn, add_special_tokens=False)["input_ids"]
            for label in self.labels
        ]
        return prefix_ids, suffix, answers

    def _user(self, text: str, names: str) -> str:
        return self.template.replace("{labels}", names).replace("{text}", text)

    def score(self, texts: Sequence[str]) -> LabelScores:
        texts = require_texts(list(texts))
        rows = self.tokenizer([t + self.suffix for t in texts], add_special_tokens=False)
        calls, prefix_cache = self._prefix_cache()
        scores = []
        for start in range(0, len(texts), self.batch_size):
            batch = rows["input_ids"][start : start + self.batch_size]
            scores.append(self._forward(prefix_cache, batch))
            calls += 1
        lengths = [len(self.prefix_ids) + len(ids) for ids in rows["input_ids"]]
        return LabelScores(
            labels=self.labels,
            scores=np.concatenate(scores),
            prompt_tokens=len(self.prefix_ids),
            mean_tokens=float(np.mean(lengths)),
            forward_calls=calls,
        )

    def _prefix_cache(self) -> tuple[int, Any]:
        import torch

        with torch.inference_mode():
            out = self.lm.base_model(input_ids=torch.tensor([self.prefix_ids]), use_cache=True)
        return 1, out.cache

    def _forward(self, prefix_cache: Any, batch: list[list[int]]) -> np.ndarray:
        """(B, K) answer log-likelihoods: one forward pass over B x K rows."""
        import torch

        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        rows = [text + answer for text in batch for answer in self.answer_ids]
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (R, T)
        mask = torch.zeros((len(rows), len(self.prefix_ids) + width), dtype=torch.long)
        mask[:, : len(self.prefix_ids)] = 1
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = torch.tensor(row)
            mask[r, len(self.prefix_ids) : len(self.prefix_ids) + len(row)] = 1
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(len(rows))
        row_index, positions, targets = [], [], []
        for r, row in enumerate(rows):
            answer = self.answer_ids[r % len(self.answer_ids)]
            start = len(row) - len(answer)  # answer token j sits at row position start + j
            row_index += [r] * len(answer)
            positions += range(start - 1, len(row) - 1)  # the states that predict them
            targets += answer
        with torch.inference_mode():
            states = self.lm.base_model(
                input_ids=input_ids, attention_mask=mask, cache=cache, use_cache=True
            ).last_hidden_state  # (R, T, H)
            # the LM head only where an answer token is predicted: (A, V), A answer tokens
            logits = self.lm.get_output_embeddings()(states[row_index, positions])
        chosen = logits.float().log_softmax(-1)[torch.arange(len(targets)), targets]  # (A,)
        totals = torch.zeros(len(rows)).index_add_(0, torch.tensor(row_index), chosen)
        return totals.numpy().reshape(len(batch), len(self.answer_ids))

    def parameters(self) -> int:
        return sum(p.numel() for p in self.lm.parameters())
