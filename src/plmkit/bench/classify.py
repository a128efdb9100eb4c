"""`plm bench classify`: sentiment labels for movie sentences, the plain
`transformers.pipeline("text-classification")` (one text per forward) against plmkit's
length-sorted batches of 32 on every installed encoder backend; accuracy on the gold labels."""

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
from plmkit.bench.workload import bench_classifier, movie_sentences

BASELINE = 'transformers pipeline("text-classification") (defaults)'


def _pipeline_engine(pipeline, directory: str, texts: list[str]) -> Engine:
    classifier = pipeline("text-classification", model=directory, device="cpu")
    label2id = classifier.model.config.label2id

    def run(batch: list[str]) -> np.ndarray:
        return np.asarray([label2id[o["label"]] for o in classifier(batch)])

    warm = partial(run, texts[:WARM_TEXTS])
    return Engine(BASELINE, lambda: run(texts), run, baseline=True, warm=warm)


def _backend_engine(directory: str, name: str, tokenizer, texts: list[str]) -> Engine:
    backend = backends.load_encoder_backend(directory, "classify", name)

    def run(batch: list[str]) -> np.ndarray:
        logits = backends.forward_sorted(backend, tokenizer, batch)
        return np.argmax(np.stack(logits), -1)

    sample = texts[:PROBE_TEXTS]
    return Engine(
        f"plmkit --backend {name} (sorted batches of 32)",
        lambda: run(texts),
        run,
        probe=lambda: probe_rate(lambda: run(sample), len(sample)),
        warm=partial(run, texts[:WARM_TEXTS]),
        handle=backend,
    )


def _quality(engine: Engine, accuracy: dict[str, float], fp32: Engine | None) -> str:
    """Accuracy, and for plmkit's other engines the change and label agreement vs torch fp32."""
    quality = f"accuracy {accuracy[engine.name]:.2f}"
    if fp32 is not None and not engine.baseline and engine is not fp32:
        agree = float(np.mean(engine.output == fp32.output)) * 100
        quality += (
            f" ({accuracy[engine.name] - accuracy[fp32.name]:+.2f} vs fp32, "
            f"same label {agree:.1f}%)"
        )
    return quality


def scenario(options: BenchOptions) -> list[Row]:
    from transformers import pipeline  # imported before the baseline's memory is measured

    directory = str(options.classifier or bench_classifier(options.encoder))
    _, _, texts, labels = movie_sentences()
    texts, gold = texts[: options.n_texts], np.asarray(labels[: options.n_texts])
    probe = [[t] for t in texts[: options.n_latency]]
    tokenizer = loading.load_tokenizer(directory)
    mean_tokens = float(np.mean([len(x) for x in tokenizer(texts)["input_ids"]]))
    config = loading.load_config(directory)
    engines: list[Engine] = []
    enter(engines, lambda: _pipeline_engine(pipeline, directory, texts))
    auto = auto_choice("encoder", directory, "classify")
    slow = SlowProbe("classify", "texts/s", options.all_engines, picks=(auto,))
    for name in registry.installed("encoder"):
        load = lambda name=name: _backend_engine(directory, name, tokenizer, texts)  # noqa: E731
        enter(engines, load, slow, name)
    race(engines, options.rounds, between=sample_limits(options))
    accuracy = {e.name: float(np.mean(e.output == gold)) * 100 for e in engines}
    fp32 = next((e for e in engines if "torch-fp32" in e.name), None)
    rows = []
    for engine in engines:
        name = engine.name.split()[2] if not engine.baseline else "fp32"
        rows.append(
            Row(
                "classify",
                engine.name,
                len(texts) / engine.best_seconds,
                "texts/s",
                baseline=engine.baseline,
                peak_mem_mb=engine.memory_mb,
                quality=_quality(engine, accuracy, fp32),
                vs="" if engine.baseline else BASELINE,
                # an export whose last layer runs for the first token alone does less work
                limit=encoder_limit(
                    options, name, config, mean_tokens, getattr(engine.handle, "first_token", False)
                ),
                limit_from=encoder_limit_key(name),
                note="auto picks this" if name == auto else "",
                rounds=engine.rounds_run,
                round_seconds=engine.round_seconds,
                **request_latency(engine, probe),
            )
        )
    backends.unload_all()
    return rows + slow.skipped
