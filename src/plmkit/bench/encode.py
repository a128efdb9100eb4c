"""`plm bench encode`: sentence embeddings, `SentenceTransformer(dir).encode` with its defaults
(batch 32, length-sorted) against `plmkit encode` on every installed encoder backend."""

from __future__ import annotations

from functools import partial

import numpy as np

from plmkit import backends, loading
from plmkit.backends import registry
from plmkit.bench.harness import (
    PROBE_TEXTS,
    WARM_TEXTS,
    Engine,
    SlowProbe,
    auto_choice,
    enter,
    probe_rate,
    race,
    request_latency,
    sample_limits,
)
from plmkit.bench.limits import encoder_limit, encoder_limit_key
from plmkit.bench.measure import Row
from plmkit.bench.options import BenchOptions
from plmkit.bench.workload import movie_sentences

BASELINE = "sentence-transformers encode (defaults)"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of the rows of `a` and `b` (N, H)."""
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return float(np.mean((a * b).sum(-1) / np.maximum(norms, 1e-12)))


def _sentence_transformers(model_class: type, encoder: str, texts: list[str]) -> Engine:
    """The baseline engine (sentence-transformers' defaults)."""
    model = model_class(str(loading.model_dir(encoder)), device="cpu")
    run = partial(model.encode, show_progress_bar=False)
    warm = partial(run, texts[:WARM_TEXTS])
    return Engine(BASELINE, lambda: run(texts), run, baseline=True, warm=warm)


def scenario(options: BenchOptions) -> list[Row]:
    from plmkit.pipelines.encode import encode as plm_encode

    _, _, texts, _ = movie_sentences()
    texts = texts[: options.n_texts]
    probe = [[t] for t in texts[: options.n_latency]]
    tokenizer = loading.cached("tokenizer", options.encoder)
    mean_tokens = float(np.mean([len(x) for x in tokenizer(texts)["input_ids"]]))
    config = loading.load_config(options.encoder)
    engines: list[Engine] = []
    try:  # imported before the baseline's memory is measured, as the others' libraries are
        from sentence_transformers import SentenceTransformer
    except ImportError:  # no baseline row then
        SentenceTransformer = None  # noqa: N806
    if SentenceTransformer is not None:
        enter(engines, lambda: _sentence_transformers(SentenceTransformer, options.encoder, texts))
    auto = auto_choice("encoder", options.encoder)
    slow = SlowProbe("encode", "texts/s", options.all_engines, picks=(auto,))
    for name in registry.installed("encoder"):

        def load(name: str = name) -> Engine:
            run = partial(plm_encode, model=options.encoder, backend=name)
            sample = texts[:PROBE_TEXTS]
            return Engine(
                f"plmkit encode --backend {name}",
                lambda: run(texts).embeddings,
                lambda batch: run(batch).embeddings,
                probe=lambda: probe_rate(lambda: run(sample), len(sample)),
                warm=lambda: run(texts[:WARM_TEXTS]),
            )

        enter(engines, load, slow, name)
    race(engines, options.rounds, between=sample_limits(options))
    reference = engines[0].output
    rows = []
    for engine in engines:
        name = engine.name.split()[-1]
        rows.append(
            Row(
                "encode",
                engine.name,
                len(texts) / engine.best_seconds,
                "texts/s",
                baseline=engine.baseline,
                peak_mem_mb=engine.memory_mb,
                quality="reference (fp32)"
                if engine.baseline
                else f"cosine vs fp32 {cosine(engine.output, reference):.4f}",
                vs="" if engine.baseline or not engines[0].baseline else BASELINE,
                limit=encoder_limit(options, name, config, mean_tokens),
                limit_from=encoder_limit_key(name),
                note="auto picks this" if name == auto else "",
                rounds=engine.rounds_run,
                round_seconds=engine.round_seconds,
                **request_latency(engine, probe),
            )
        )
    backends.unload_all()
    return rows + slow.skipped
