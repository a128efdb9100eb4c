"""The built-in movie-snippets dataset (plmkit.data.builtin): rows, labels and cleaning, its
splits, where the file is looked for, its sha256, and the fetch from the vaderSentiment sdist."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from plmkit import data
from plmkit.data import builtin
from plmkit.errors import DataError


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


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
    monkeypatch.setattr(builtin, "__file__", str(tmp_path / "site" / "plmkit" / "builtin.py"))
    fetched = []
    monkeypatch.setattr(builtin, "fetch_movie_snippets", lambda target: fetched.append(target))
    data.movie_snippets_path()
    assert fetched == [tmp_path / "cache" / "data" / data.MOVIE_SNIPPETS_FILE]
    shutil.copy(real, fetched[0])
    assert data.movie_snippets_path() == fetched[0] and len(fetched) == 1
    (tmp_path / "shared" / "data").mkdir(parents=True)
    shutil.copy(real, tmp_path / "shared" / "data")
    assert data.movie_snippets_path() == tmp_path / "shared" / "data" / data.MOVIE_SNIPPETS_FILE


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
    monkeypatch.setattr(builtin, "VADER_SDIST_SHA256", sha256(sdist.read_bytes()))
    monkeypatch.setattr(builtin, "VADER_INNER_ARCHIVE", "additional_resources/inner.tar.gz")
    monkeypatch.setattr(builtin, "MOVIE_SNIPPETS_SHA256", sha256(payload))
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        shutil.copy(sdist, Path(command[command.index("-d") + 1]) / sdist.name)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(builtin.subprocess, "run", fake_run)
    target = data.fetch_movie_snippets(tmp_path / "cache" / data.MOVIE_SNIPPETS_FILE)
    assert target.read_bytes() == payload
    assert commands[0][1:4] == ["-m", "pip", "download"] and data.VADER_SDIST in commands[0]

    def failing_run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: no network\n")

    monkeypatch.setattr(builtin.subprocess, "run", failing_run)
    with pytest.raises(DataError, match="could not download.*no network") as info:
        data.fetch_movie_snippets(tmp_path / "other" / data.MOVIE_SNIPPETS_FILE)
    assert "PLMKIT_DATA_DIR" in info.value.fix
