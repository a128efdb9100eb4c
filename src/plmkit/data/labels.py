"""Labels: a raw cell as a class name or an integer, the id order of the names, and raw
labels mapped to ids (by name in any case, or by id when an integer is in range)."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

from plmkit.errors import DataError


def label_value(value: Any) -> int | str | None:
    """A raw label as a class name or an integer; None when missing."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if re.fullmatch(r"[+-]?\d+", value) else (value or None)
    if isinstance(value, numbers.Integral):
        return int(value)
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return None
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    raise DataError(
        f"label {value!r} is not a class name or a whole number",
        fix="classification needs class labels: names or integer ids",
    )


def sorted_label_names(raw: Sequence[int | str]) -> list[str]:
    """The id -> name list built from data: integers numerically, then strings, sorted."""
    values = set(raw)
    ints = sorted(v for v in values if isinstance(v, int))
    return [str(v) for v in ints] + sorted(v for v in values if isinstance(v, str))


def encode_labels(raw: Sequence[int | str], names: list[str], source: str) -> list[int]:
    """Label ids of `raw` in `names` (a model's labels at evaluation time)."""
    by_name: dict[str, int] = {}
    for i, name in enumerate(names):
        by_name.setdefault(str(name).lower(), i)
    ids, unknown = [], set()
    for value in raw:
        label = by_name.get(str(value).lower())
        if label is None and isinstance(value, int) and 0 <= value < len(names):
            label = value
        if label is None:
            unknown.add(str(value))
        ids.append(label)
    if unknown:
        raise DataError(
            f"{source} has labels {sorted(unknown)[:10]} that are not among the model's labels "
            f"{names}",
            fix=f"use the model's label names (any case) or ids 0..{len(names) - 1}",
        )
    return ids  # type: ignore[return-value]
