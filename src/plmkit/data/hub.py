"""Hugging Face hub datasets (`imdb`, `user/name`): one split read with `datasets`, from the
local cache unless `plmkit.paths.hub_offline()` allows the hub.

huggingface_hub and datasets read HF_HUB_OFFLINE once, at import; plmkit's answer is set on
both for each call (and restored after), so that an offline run fails at once instead of
retrying the network for a minute, even when the variable was set after the import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from plmkit.data.readers import check_columns, check_rows
from plmkit.errors import DataError
from plmkit.paths import hub_offline

_FIX = "use --data movie-snippets or a local CSV/JSONL file"


def read_hub(
    dataset_id: str, split: str, text_column: str, label_column: str | None, drop_empty: bool
) -> tuple[list[str], list[int | str] | None, list[str] | None]:
    """Texts, raw labels and the declared label names (a ClassLabel's, else None) of a split."""
    import datasets
    from huggingface_hub.errors import HfHubHTTPError

    try:
        with _hub_offline_flags() as offline:
            table = datasets.load_dataset(dataset_id, split=split)
    except (ConnectionError, TimeoutError, FileNotFoundError, HfHubHTTPError) as error:
        if offline or isinstance(error, (ConnectionError, TimeoutError)):
            raise DataError(
                f"dataset {dataset_id!r} is not in the local Hugging Face cache and "
                "the hub cannot be reached",
                _FIX,
            ) from error
        raise DataError(
            f"dataset {dataset_id!r} was not found on the Hugging Face hub ({_first_line(error)})",
            f"check the id; {_FIX}",
        ) from error
    except ValueError as error:
        if "split" not in str(error).lower():
            raise
        raise DataError(
            f"dataset {dataset_id!r} has no split {split!r}: {_first_line(error)}",
            fix="use one of the dataset's splits, e.g. train or train[:10%]",
        ) from error
    check_columns(dataset_id, list(table.column_names), text_column, label_column)
    columns = table.select_columns([c for c in (text_column, label_column) if c]).to_dict()
    raw, declared = columns.get(label_column) if label_column else None, None
    feature = table.features.get(label_column) if label_column else None
    if isinstance(feature, datasets.ClassLabel):
        declared = list(feature.names)
        raw = [declared[v] if v is not None and 0 <= v < len(declared) else None for v in raw]
    texts, labels = check_rows(
        f"{dataset_id}:{split}",
        columns[text_column],
        raw,
        range(1, len(table) + 1),
        "row",
        drop_empty,
    )
    return texts, labels, declared


@contextmanager
def _hub_offline_flags() -> Iterator[bool]:
    """Set the libraries' import-time offline flags to `hub_offline()` for one call."""
    import datasets.config
    from huggingface_hub import constants

    offline = hub_offline()
    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = offline
    try:
        yield offline
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
