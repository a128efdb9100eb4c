"""`plm encode --file` / `plm predict --file` over files of any size, in chunks (batch_files).

    summary = encode_in_chunks(Path("big.txt"), Path("big.npy"), "minilm", shard=Shard(0, 2))

Each call computes this shard's chunks that are not on disk yet (a rerun continues where a
crashed one stopped), with a progress bar over them, and merges OUT in input order when every
chunk is there (`merge=False` leaves that to `plm merge OUT` or to rank 0 under torchrun).
Memory holds one chunk of texts and outputs, whatever the size of the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plmkit.pipelines.batch_files import DEFAULT_CHUNK_ROWS, Chunk, ChunkedRun, Shard
from plmkit.progress import progress

WHOLE = Shard()  # one process does every chunk


@dataclass
class BatchSummary:
    out: Path
    rows: int
    chunks: int
    computed: int
    """Chunks this call computed."""
    skipped: int
    """Chunks of this shard already on disk (a rerun)."""
    merged: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}


def _run(
    run: ChunkedRun,
    shard: Shard,
    compute: Callable[[Chunk], Any],
    show_progress: bool,
    merge: bool,
) -> BatchSummary:
    mine = [c for c in range(run.chunks) if shard.owns(c)]
    todo = run.todo(shard)
    for chunk in progress(
        run.pending(shard), f"chunks of shard {shard.index}/{shard.count}", show_progress, "chunks"
    ):
        run.write(chunk, compute(chunk))
    merged = merge and run.complete()
    if merged:
        run.merge()
    return BatchSummary(
        out=run.out,
        rows=int(run.manifest["rows"]),
        chunks=run.chunks,
        computed=len(todo),
        skipped=len(mine) - len(todo),
        merged=merged,
    )


def wait_and_merge(source: Path, out: Path, poll_seconds: float = 2.0) -> Path:
    """Rank 0 under torchrun: wait until every rank's chunks are on disk, then merge OUT.
    (If a rank dies, torchrun stops this one too.)"""
    from plmkit.pipelines.batch_files import merge_parts, parts_dir

    parts = parts_dir(out)
    manifest = ChunkedRun.read_manifest(parts)
    suffix = ".npy" if out.suffix == ".npy" else ".jsonl"
    while not all((parts / f"chunk-{c:06d}{suffix}").is_file() for c in range(manifest["chunks"])):
        time.sleep(poll_seconds)
    return merge_parts(parts, out)


def encode_in_chunks(
    source: Path,
    out: Path,
    model: str = "minilm",
    *,
    shard: Shard = WHOLE,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    pooling: str | None = None,
    normalize: bool | None = None,
    batch_size: int = 32,
    backend: str = "auto",
    show_progress: bool = False,
    merge: bool = True,
) -> BatchSummary:
    """Sentence embeddings of every text of `source` into `out` (.npy (N, H) float32, or
    .jsonl {"text", "embedding"} lines, as `plm encode --out` writes them)."""
    from plmkit.pipelines.encode import check_embeddings_path, encode

    out = check_embeddings_path(out)
    settings = {"model": model, "pooling": pooling, "normalize": normalize, "backend": backend}
    run = ChunkedRun(source, out, kind="encode", settings=settings, chunk_rows=chunk_rows)

    def compute(chunk: Chunk) -> Any:
        result = encode(
            chunk.texts,
            model,
            pooling=pooling,
            normalize=normalize,
            batch_size=batch_size,
            backend=backend,
        )
        if out.suffix == ".npy":
            return result.embeddings  # (rows, H)
        return [
            {"text": text, "embedding": [round(float(v), 6) for v in vector]}
            for text, vector in zip(chunk.texts, result.embeddings, strict=True)
        ]

    return _run(run, shard, compute, show_progress, merge)


def predict_in_chunks(
    source: Path,
    out: Path,
    model: str,
    *,
    text_column: str = "text",
    shard: Shard = WHOLE,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    batch_size: int = 64,
    backend: str = "auto",
    show_progress: bool = False,
    merge: bool = True,
) -> BatchSummary:
    """Every input row of `source` with pred_label, pred_score, p_<label> into `out`
    (.jsonl, .csv or .tsv), in input order."""
    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.classify import classify
    from plmkit.pipelines.predictions import prediction_columns

    if out.suffix.lower() not in (".jsonl", ".csv", ".tsv"):
        raise InvalidInputError(
            f"chunked predictions cannot be written to {out.name}",
            "use an --out ending in .jsonl, .csv or .tsv",
        )
    settings = {"model": model, "backend": backend}
    run = ChunkedRun(
        source,
        out,
        kind="predict",
        settings=settings,
        chunk_rows=chunk_rows,
        text_column=text_column,
    )

    def compute(chunk: Chunk) -> list[dict[str, Any]]:
        predictions = classify(chunk.texts, model, batch_size=batch_size, backend=backend)
        labels = list(predictions[0].probabilities) if predictions else []
        names = prediction_columns(list(chunk.rows[0]) if chunk.rows else [], labels)
        return [
            row
            | dict(
                zip(names, [p.label, p.score, *(p.probabilities[n] for n in labels)], strict=True)
            )
            for row, p in zip(chunk.rows, predictions, strict=True)
        ]

    return _run(run, shard, compute, show_progress, merge)
