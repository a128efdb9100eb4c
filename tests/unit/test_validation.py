"""plmkit.validation: one wording for bad input everywhere."""

from __future__ import annotations

import pytest

from plmkit.errors import InvalidInputError
from plmkit.validation import require_messages, require_positive, require_range, require_texts


def test_require_texts():
    assert require_texts("a") == ["a"] and require_texts(["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidInputError, match="no text given"):
        require_texts([])
    with pytest.raises(InvalidInputError, match=r"empty text \(item 2 of 3\)"):
        require_texts(["a", " ", "c"])


def test_require_positive_says_above_zero():
    require_positive(None, "x")
    require_positive(0.5, "temperature")
    with pytest.raises(InvalidInputError) as error:
        require_positive(0.0, "temperature")
    assert error.value.message == "temperature must be > 0, got 0.0"
    assert error.value.fix == "pass temperature above 0"


def test_require_range():
    require_range(0.5, "top_p", 0.0, 1.0)
    with pytest.raises(InvalidInputError, match=r"top_p must be between 0.0 and 1.0, got 1.5"):
        require_range(1.5, "top_p", 0.0, 1.0)


def test_require_messages():
    assert require_messages([{"role": "user", "content": "hi", "x": 1}]) == [
        {"role": "user", "content": "hi"}
    ]
    for bad, message in [
        ([], "no chat messages"),
        ([{"role": "robot", "content": "hi"}], "no valid role"),
        ([{"role": "user", "content": " "}], "empty content"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            require_messages(bad)
