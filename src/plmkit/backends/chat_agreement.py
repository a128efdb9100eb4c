"""Does a decoder answer chat questions as fp32 does? `auto`'s first check on decoders.

Perplexity of fp32's own text passed an engine (llama.cpp on Q4_1) that answers "What is
the capital of France?" with "L'Étoile, la Cité, ...": a near-tie at the first token that a
mean over many tokens does not see. So each candidate answers CHAT_QUESTIONS (through the
model's chat template, greedy, CHAT_TOKENS each) and an answer counts as changed when it is
neither fp32's tokens nor names the known answer where fp32's does too.

Why no 4- or 8-bit engine passes on smollm2 (measured on the Zen 3, 2026-12-03): fp32's
first answer token to France is "The" at 25.325 against "L" at 25.243, a 0.08 logit tie.
llama.cpp quantises every activation to 8 bits for its 4- and 8-bit weight types, and that
alone flips it: the shipped Q4_1 with one tensor group in F16 (the dequantised values, so
only activations change) still answered "L'Étoile" with any one group exact (token_embd,
ffn_down, attn_output, attn_v, attn_q/k, ffn_gate/up); the F16 copy kept all 28. ONNX
Runtime GenAI's int4 MatMulNBits ran 95-104 tok/s with 8-bit activations and 52-56 with
fp32 ones (against llama.cpp F16's 50), and its requantisation of the Q4_1 weights (integer
zero points, a 4-bit lm_head) changed 10 of 28 answers either way, so it is not an engine
here.
"""

from __future__ import annotations

import re
from typing import Any

from plmkit.backends.base import CausalLMBackend, Sampling
from plmkit.backends.calibration import CHAT_QUESTIONS

DECODE_MIN_CHAT_AGREEMENT = 1.0
"""Every chat answer as fp32's. Measured on smollm2 (Zen 4, AVX-512 BF16): torch-bf16 and
llama-cpp-bf16 gave all 28, ct2-int8 27 ("the largest mammal is the elephant"), llama-cpp
(Q4_1) and llama-cpp-q8 26 (France's capital "L'Étoile, ...", the Mona Lisa's painter
unnamed). These questions are easy and fp32 gets them all, so a changed one is a changed
answer, not noise; and a bf16 engine passes at full speed."""
CHAT_TOKENS = 12
"""Greedy tokens per chat question: the answers are one short sentence, named by token 10;
asking stops at the first answer that exceeds what the threshold allows."""


def allowed_changes(questions: int) -> int:
    """How many of `questions` chat answers may differ from fp32's and still pass."""
    return int(questions * (1 - DECODE_MIN_CHAT_AGREEMENT) + 1e-9)


def _names_the_answer(tokenizer: Any, ids: list[int], known: str) -> bool:
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return re.search(rf"\b{re.escape(known)}\b", text, re.IGNORECASE) is not None


def changed_answers(
    backend: CausalLMBackend, tokenizer: Any, questions: list[list[int]], reference: list
) -> tuple[list[tuple[str, str]], int]:
    """([(question, the backend's answer)] for CHAT_QUESTIONS it answers differently from
    fp32's `reference` answers, questions asked). Different: neither the same tokens nor
    the known answer (as a word) named in both. Asking stops once the changes are more
    than DECODE_MIN_CHAT_AGREEMENT allows."""
    allowed = allowed_changes(len(questions))
    changed = []
    for asked, ((question, known), ids, ref) in enumerate(
        zip(CHAT_QUESTIONS, questions, reference, strict=True), start=1
    ):
        out = list(backend.stream(ids, CHAT_TOKENS, Sampling()))
        if out != ref and not (
            _names_the_answer(tokenizer, ref, known) and _names_the_answer(tokenizer, out, known)
        ):
            changed.append((question, tokenizer.decode(out, skip_special_tokens=True)))
            if len(changed) > allowed:
                return changed, asked
    return changed, len(questions)
