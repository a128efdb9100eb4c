"""Texts for `auto` to time each candidate backend and check it against fp32.

Built-in sentences, short and long, plain and odd, so no data set is needed; for a
classifier made by `plm finetune`, up to CALIBRATION_ROWS of its own held-out rows with
their labels (`calibration.jsonl` in the model directory), so that `auto` can hold each
backend's accuracy to within a stated bound of fp32's; and, for decoders, prompts to score
and chat questions with known short answers (`chat_ids` puts one in the chat template).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CALIBRATION_FILE = "calibration.jsonl"
CALIBRATION_ROWS = 512


def labelled_jsonl(texts: list[str], labels: list[int], limit: int = CALIBRATION_ROWS) -> str:
    """Up to `limit` rows as JSON lines {"text", "label"} (label ids): calibration.jsonl."""
    rows = list(zip(texts, labels, strict=False))[:limit]
    return "".join(json.dumps({"text": t, "label": int(y)}) + "\n" for t, y in rows)


def labelled_rows(model_dir: Path) -> tuple[list[str], list[int]] | None:
    """(texts, label ids) from the directory's calibration.jsonl, or None."""
    try:
        lines = (Path(model_dir) / CALIBRATION_FILE).read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        texts = [str(r["text"]) for r in rows]
        labels = [int(r["label"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (texts, labels) if texts else None


SENTENCES = (
    "A charming, funny and surprisingly moving film.",
    "The plot is thin and the jokes fall flat.",
    "I expected more from such a talented cast.",
    "Not bad at all.",
    "An absolute mess from start to finish, with a script that seems to have been written "
    "over a long weekend and never read again.",
    "The cinematography is gorgeous, but the story never finds its footing.",
    "It's the kind of movie you forget as soon as the credits roll.",
    "Brilliant.",
    "The lead performance is raw, honest and completely convincing, and the supporting "
    "players give it the texture of real life.",
    "Too long, too loud and too pleased with itself.",
    "A quiet, thoughtful drama that rewards patience.",
    "What were they thinking?",
    "The first hour is a delight; the second drags badly and the ending is a cheat.",
    "Kids will love it and parents won't mind sitting through it either.",
    "Dull.",
    "Smart, tense and beautifully edited, this thriller keeps you guessing until the end.",
    "There is nothing new here, but it is done with enough craft to entertain.",
    "The dialogue is clumsy and the characters are cardboard cut-outs.",
    "A triumph of style over substance, which is not always a bad thing.",
    "I laughed, I cried, I bought the soundtrack.",
    "The effects look cheap and the monster is more silly than scary.",
    "It never quite decides whether it wants to be a comedy or a tragedy, and it suffers "
    "for that indecision in almost every scene.",
    "Worth seeing for the music alone.",
    "A tedious exercise in nostalgia.",
    "The director handles the big set pieces with confidence and wit.",
    "Flat, lifeless and forgettable.",
    "One of the best films of the year.",
    "The sort of picture that makes you glad you went to the cinema.",
    "Its heart is in the right place, but its head is somewhere else entirely.",
    "The documentary asks hard questions and does not pretend to have easy answers.",
    "Painfully slow.",
    "A sweet and gentle comedy about growing up, growing old and learning to let go.",
)

PROMPTS = (
    "The three most important things to know about the ocean are",
    "Write a short poem about a cat who loves the rain.",
)

CHAT_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Germany?", "Berlin"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of England?", "London"),
    ("What is the capital of Russia?", "Moscow"),
    ("What is the capital of Egypt?", "Cairo"),
    ("What is the capital of China?", "Beijing"),
    ("What is the capital of Greece?", "Athens"),
    ("What is the capital of Canada?", "Ottawa"),
    ("What is 2 + 2?", "4"),
    ("What is 6 + 6?", "12"),
    ("What is the opposite of hot?", "cold"),
    ("What is the opposite of up?", "down"),
    ("What is the opposite of big?", "small"),
    ("What is the opposite of day?", "night"),
    ("What is the opposite of happy?", "sad"),
    ("What is the opposite of black?", "white"),
    ("What is the largest ocean on Earth?", "Pacific"),
    ("What is the chemical symbol for water?", "H2O"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
    ("Who painted the Mona Lisa?", "Leonardo"),
    ("What is the largest mammal?", "whale"),
    ("What is the longest river in Africa?", "Nile"),
    ("What language is spoken in Brazil?", "Portuguese"),
    ("What is the currency of Japan?", "yen"),
    ("What is the main language spoken in Mexico?", "Spanish"),
    ("What is the capital of Australia?", "Canberra"),
    ("What is the plural of mouse?", "mice"),
)
"""(question, known answer): factual one-liners that the embedded smollm2 in fp32 answers
right within its first 10 greedy tokens of chat (`plm generate Q --chat --backend
torch-fp32`). Of 60 tried, 35 named the answer; left out are 3 odd ones ("the square root
of 9 is approximately 3.09") and 4 that named it after 12 tokens. France comes first: it
is the answer the quantised llama.cpp engines change, so they are rejected after one."""


def chat_ids(tokenizer: Any, question: str) -> list[int]:
    """The ids `plm generate QUESTION --chat` sends: the user's turn in the model's chat
    template, ready for the answer (the template writes its own special tokens). A model
    without a chat template gets the question as plain text."""
    if not getattr(tokenizer, "chat_template", None):
        return tokenizer(question)["input_ids"]
    turn = [{"role": "user", "content": question}]
    text = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]
