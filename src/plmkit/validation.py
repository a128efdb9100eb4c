"""Input checks shared by pipelines, recipes and the server: one place, one wording."""

from __future__ import annotations

from collections.abc import Sequence

from plmkit.errors import InvalidInputError


def require_texts(texts: str | Sequence[str], what: str = "text") -> list[str]:
    """A non-empty list of non-blank strings."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise InvalidInputError(f"no {what} given", f"pass at least one {what}")
    blank = [i for i, t in enumerate(items) if not isinstance(t, str) or not t.strip()]
    if blank:
        where = "" if len(items) == 1 else f" (item {blank[0] + 1} of {len(items)})"
        raise InvalidInputError(f"empty {what}{where}", f"give non-empty {what}")
    return items


def require_positive(value: int | float | None, name: str) -> None:
    if value is not None and value <= 0:
        raise InvalidInputError(f"{name} must be > 0, got {value}", f"pass {name} above 0")


def require_range(value: float | None, name: str, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise InvalidInputError(
            f"{name} must be between {low} and {high}, got {value}",
            f"pass {name} in [{low}, {high}]",
        )


def require_messages(messages: object) -> list[dict]:
    """Chat messages: a non-empty list of {"role": ..., "content": non-empty text}."""
    roles = {"system", "user", "assistant"}
    if not isinstance(messages, list) or not messages:
        raise InvalidInputError("no chat messages given", 'pass [{"role": "user", "content": ...}]')
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict) or message.get("role") not in roles:
            raise InvalidInputError(
                f"message {number} has no valid role", f"use a role among {sorted(roles)}"
            )
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise InvalidInputError(f"message {number} has empty content", "give it some text")
    return [{"role": m["role"], "content": m["content"]} for m in messages]
