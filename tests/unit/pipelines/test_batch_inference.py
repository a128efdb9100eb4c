"""pipelines/batch_files.py + batch_inference.py: chunked, resumable, sharded encode / predict
over a file, merged in input order; equal to the one-shot pipelines."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.errors import DataError, InvalidInputError
from plmkit.pipelines import batch_inference
from plmkit.pipelines.batch_files import ChunkedRun, Shard, merge_parts, parts_dir
from plmkit.pipelines.batch_inference import encode_in_chunks, predict_in_chunks
from plmkit.pipelines.classify import classify
from plmkit.pipelines.encode import encode

WORDS = "the a cat dog sat on mat movie film was good bad great awful funny boring".split()


@pytest.fixture
def lines(tmp_path):
    """A .txt of 23 texts (and blank lines, skipped), each different."""
    texts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(1 + i % 5)) for i in range(23)]
    texts = [f"{t} {WORDS[i % len(WORDS)]}" for i, t in enumerate(texts)]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(texts[:10]) + "\n\n" + "\n".join(texts[10:]) + "\n")
    return path, texts


def test_shard_parsing():
    assert Shard.parse("1/4") == Shard(1, 4)
    assert [c for c in range(8) if Shard(1, 4).owns(c)] == [1, 5]
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(InvalidInputError, match="--shard"):
            Shard.parse(bad)


def test_encode_in_chunks_equals_one_shot(tiny_bert_dir, lines, tmp_path):
    path, texts = lines
    out = tmp_path / "emb.npy"
    summary = encode_in_chunks(path, out, str(tiny_bert_dir), chunk_rows=5, backend="torch-fp32")
    assert (summary.rows, summary.chunks, summary.computed, summary.merged) == (23, 5, 5, True)
    whole = encode(texts, str(tiny_bert_dir), backend="torch-fp32").embeddings
    np.testing.assert_allclose(np.load(out), whole, atol=1e-5)
    assert not parts_dir(out).exists()  # merged: the parts are gone


def test_shards_then_merge_restore_input_order(tiny_bert_dir, lines, tmp_path):
    path, texts = lines
    out = tmp_path / "emb.jsonl"
    first = encode_in_chunks(
        path, out, str(tiny_bert_dir), shard=Shard(0, 2), chunk_rows=4, backend="torch-fp32"
    )
    assert (first.computed, first.merged) == (3, False) and not out.exists()  # chunks 0, 2, 4
    with pytest.raises(DataError, match="3 of 6 chunks are not written yet"):
        merge_parts(parts_dir(out), out)
    second = encode_in_chunks(
        path, out, str(tiny_bert_dir), shard=Shard(1, 2), chunk_rows=4, backend="torch-fp32"
    )
    assert second.merged  # the last shard to finish merges
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == texts


def test_a_rerun_continues_where_a_crash_stopped(tiny_bert_dir, lines, tmp_path, monkeypatch):
    path, texts = lines
    out = tmp_path / "emb.npy"
    calls = []
    real = batch_inference.ChunkedRun.write

    def crash_on_third(self, chunk, result):
        calls.append(chunk.index)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while computing chunk 2
        return real(self, chunk, result)

    monkeypatch.setattr(batch_inference.ChunkedRun, "write", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        encode_in_chunks(path, out, str(tiny_bert_dir), chunk_rows=5, backend="torch-fp32")
    parts = sorted(p.name for p in parts_dir(out).iterdir())
    assert parts == ["chunk-000000.npy", "chunk-000001.npy", "manifest.json"]  # no partial file
    monkeypatch.setattr(batch_inference.ChunkedRun, "write", real)
    summary = encode_in_chunks(path, out, str(tiny_bert_dir), chunk_rows=5, backend="torch-fp32")
    assert (summary.computed, summary.skipped, summary.merged) == (3, 2, True)
    whole = encode(texts, str(tiny_bert_dir), backend="torch-fp32").embeddings
    np.testing.assert_allclose(np.load(out), whole, atol=1e-5)


def test_parts_of_another_input_are_refused(tiny_bert_dir, lines, tmp_path):
    path, _ = lines
    out = tmp_path / "emb.npy"
    encode_in_chunks(
        path, out, str(tiny_bert_dir), shard=Shard(0, 2), chunk_rows=5, backend="torch-fp32"
    )
    with pytest.raises(DataError, match="another chunk_rows"):
        ChunkedRun(path, out, kind="encode", chunk_rows=7, settings={})


def test_predict_in_chunks_keeps_every_column(tiny_classifier_dir, tmp_path):
    source = tmp_path / "in.csv"
    texts = ["a good film", "bad acting", "great music", "a tedious mess", "funny"]
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([[i, t] for i, t in enumerate(texts)])
    out = tmp_path / "pred.csv"
    summary = predict_in_chunks(
        source, out, str(tiny_classifier_dir), chunk_rows=2, backend="torch-fp32"
    )
    assert summary.merged and summary.chunks == 3
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["text"] for r in rows] == texts and [r["id"] for r in rows] == list("01234")
    expected = classify(texts, str(tiny_classifier_dir), backend="torch-fp32")
    assert [r["pred_label"] for r in rows] == [p.label for p in expected]
    assert {"pred_score", "p_negative", "p_positive"} <= set(rows[0])


def test_cli_shards_and_merge(tiny_bert_dir, lines, tmp_path):
    path, texts = lines
    out = tmp_path / "emb.npy"
    runner = CliRunner()
    base = ["encode", "--file", str(path), "--out", str(out), "--model", str(tiny_bert_dir)]
    base += ["--backend", "torch-fp32", "--chunk-rows", "6"]
    result = runner.invoke(app, [*base, "--shard", "1/2"])
    assert result.exit_code == 0, result.output
    assert "shard 1/2: 2 chunks computed" in result.output
    result = runner.invoke(app, ["merge", str(out)])
    assert result.exit_code == 2 and "not written yet" in result.output
    result = runner.invoke(app, [*base, "--shard", "0/2"])
    assert result.exit_code == 0 and f"wrote 23 rows to {out}" in result.output
    assert np.load(out).shape[0] == len(texts)
    result = runner.invoke(app, ["encode", "--file", "-", "--chunk-rows", "5"])
    assert result.exit_code == 2 and "read a --file and write an --out" in result.output
