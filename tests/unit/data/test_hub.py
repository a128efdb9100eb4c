"""Hub dataset ids (plmkit.data.hub): offline by default, one-line errors, ClassLabel columns
and hub split strings."""

from __future__ import annotations

import pytest

from plmkit import data
from plmkit.errors import DataError

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.mark.parametrize("dataset_id", ["no-such-user/no-such-dataset", "imdb"])
def test_hub_dataset_offline_is_a_one_line_error(tmp_path, monkeypatch, dataset_id):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    before = datasets.config.HF_HUB_OFFLINE
    with pytest.raises(DataError) as info:
        data.load_split(dataset_id, "train[:1%]")
    assert info.value.message == (
        f"dataset '{dataset_id}' is not in the local Hugging Face cache "
        "and the hub cannot be reached"
    )
    assert "movie-snippets" in info.value.fix and "\n" not in info.value.one_line()
    assert datasets.config.HF_HUB_OFFLINE == before  # the library's flag is restored


@pytest.mark.parametrize("value, offline", [(None, True), ("1", True), ("ON", True), ("0", False)])
def test_the_libraries_flags_follow_paths_hub_offline(monkeypatch, value, offline):
    import datasets
    from huggingface_hub import constants

    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if value is not None:
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", not offline)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", not offline)
    seen = []

    def load_dataset(dataset_id, split):
        seen.append((datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE))
        raise FileNotFoundError(dataset_id)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    expected = "not in the local Hugging Face cache" if offline else "was not found on the"
    with pytest.raises(DataError, match=expected):
        data.load_split("someone/reviews", "train")
    assert seen == [(offline, offline)]
    assert (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE) == (not offline,) * 2


def test_hub_errors_online_and_unrelated_bugs(monkeypatch):
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def not_found(dataset_id, split):
        raise DatasetNotFoundError(f"Dataset '{dataset_id}' doesn't exist on the Hub\nmore")

    monkeypatch.setattr(datasets, "load_dataset", not_found)
    with pytest.raises(DataError, match="was not found on the Hugging Face hub") as info:
        data.load_split("someone/missing", "train")
    assert "\n" not in info.value.message

    def buggy(dataset_id, split):
        raise ValueError("something unrelated")

    monkeypatch.setattr(datasets, "load_dataset", buggy)
    with pytest.raises(ValueError, match="something unrelated"):
        data.load_split("someone/reviews", "train")


def fake_hub(monkeypatch, labels: list[int]) -> list[str]:
    """Replace datasets.load_dataset with an in-memory dataset with a ClassLabel column."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    texts = [f"hub text {i}" for i in range(len(labels))]
    table = datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)
    calls = []

    def load_dataset(dataset_id, split):
        calls.append(split)
        if split == "nope":
            raise ValueError("Unknown split \"nope\". Should be one of ['train'].")
        return table

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_dataset_columns_class_labels_and_splits(monkeypatch):
    calls = fake_hub(monkeypatch, [0, 1] * 10)
    full = data.load_split("someone/reviews", "test")
    assert calls == ["test"] and full.split == "test" and full.label_names == ["neg", "pos"]
    assert isinstance(full.texts, list) and full.labels == [0, 1] * 10
    splits = data.load_dataset_splits(
        "someone/reviews", split="train[:1%]", test_size=0.2, validation_size=0
    )
    assert {k: len(v) for k, v in splits.items()} == {"train": 16, "test": 4}
    assert splits["train"].source == "someone/reviews:train[:1%]"
    with pytest.raises(DataError, match="no split 'nope'"):
        data.load_split("someone/reviews", "nope")
    with pytest.raises(DataError, match="no column 'sentence'"):
        data.load_split("someone/reviews", "train", text_column="sentence")
    assert data.load_texts("someone/reviews")[0] == "hub text 0"


def test_hub_slice_with_one_class(monkeypatch):
    fake_hub(monkeypatch, [0] * 10)
    with pytest.raises(DataError, match="label 'neg'") as info:
        data.load_dataset_splits("imdb", split="train[:1%]")
    assert "train[:1%]" in info.value.fix
