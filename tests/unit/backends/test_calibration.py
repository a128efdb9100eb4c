"""calibration: the chat questions go to the model as `plm generate --chat` sends them."""

from __future__ import annotations

from plmkit import loading
from plmkit.backends.calibration import CHAT_QUESTIONS, chat_ids


def test_chat_questions_go_through_the_chat_template(tiny_llama_dir, tiny_gpt2_dir):
    chat = loading.load_tokenizer(str(tiny_llama_dir))
    text = chat.decode(chat_ids(chat, "the cat sat"))
    assert text == "<|im_start|>user\nthe cat sat<|im_end|>\n<|im_start|>assistant\n"
    plain = loading.load_tokenizer(str(tiny_gpt2_dir))  # no chat template: the plain text
    assert chat_ids(plain, "the cat sat") == plain("the cat sat")["input_ids"]


def test_the_chat_questions_are_distinct_with_short_known_answers():
    questions = [q for q, _ in CHAT_QUESTIONS]
    assert len(set(questions)) == len(questions) >= 24
    assert CHAT_QUESTIONS[0] == ("What is the capital of France?", "Paris")
    assert all(0 < len(answer.split()) <= 2 for _, answer in CHAT_QUESTIONS)
