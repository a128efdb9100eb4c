"""Texts for `auto` to time each candidate backend and check it against fp32.

Built-in sentences, short and long, plain and odd, so no data set is needed; and, for a
classifier made by `plm finetune`, up to CALIBRATION_ROWS of its own held-out rows with
their labels (`calibration.jsonl` in the model directory), so that `auto` can hold each
backend's accuracy to within a stated bound of fp32's.
"""

from __future__ import annotations

import json
from pathlib import Path

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
