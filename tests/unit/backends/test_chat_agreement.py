"""chat_agreement: which chat answers count as changed from fp32's, and when asking stops."""

from __future__ import annotations

from plmkit.backends import chat_agreement
from plmkit.backends.base import CausalLMBackend
from plmkit.backends.calibration import CHAT_QUESTIONS


class Scripted(CausalLMBackend):
    """Answers each chat question with the next of `answers` (token ids)."""

    def __init__(self, answers):
        self.answers = iter(answers)

    def stream(self, prompt_ids, max_new_tokens, sampling):
        yield from next(self.answers)

    def token_logprobs(self, ids):
        raise NotImplementedError


class Words:
    """A tokenizer stand-in: id i is word i."""

    vocab = "The capital is Paris . L'Étoile it's Hi".split()

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(self.vocab[i] for i in ids)


def test_a_changed_answer_is_neither_the_same_tokens_nor_the_known_answer_in_both():
    n = len(CHAT_QUESTIONS)  # question 0 is France's capital, known answer Paris
    questions, reference = [[0]] * n, [[0, 1, 2, 3, 4]] + [[7]] * (n - 1)

    def changed(answers):
        return chat_agreement.changed_answers(Scripted(answers), Words(), questions, reference)

    assert changed(reference) == ([], n)
    assert changed([[6, 3, 4]] + [[7]] * (n - 1)) == ([], n)  # "it's Paris ." names Paris
    flipped = ([("What is the capital of France?", "L'Étoile .")], 1)
    assert changed([[5, 4]] + [[7]] * (n - 1)) == flipped  # and stops asking there
    assert changed(reference[:1] + [[6]] * (n - 1)) == ([(CHAT_QUESTIONS[1][0], "it's")], 2)
