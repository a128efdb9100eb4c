"""The data API's dispatch (plmkit.data.load): `source_kind` and what it sends where."""

from __future__ import annotations

import pytest

from plmkit import data


@pytest.mark.parametrize(
    "name, kind",
    [
        ("movie-snippets", "builtin"),
        ("imdb", "hub"),
        ("stanfordnlp/sst2", "hub"),
        ("reviews.csv", "files"),  # missing, but named like a table: a file error, not the hub
        ("corpus.TXT", "files"),
        ("runs/*.jsonl", "files"),
        ("a/b/c", "files"),  # not a hub id
        ("-bad", "files"),
        ("imdb\n", "files"),
    ],
)
def test_source_kind(name, kind):
    assert data.source_kind(name) == kind


def test_an_existing_path_is_files_even_when_it_looks_like_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imdb").mkdir()
    assert data.source_kind("imdb") == "files"
    assert data.source_kind("~") == "files"
