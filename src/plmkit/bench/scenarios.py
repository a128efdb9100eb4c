"""The benchmark scenarios: each runs its baseline and every plmkit backend on the same
inputs in this process, and returns one `Row` per engine.

Baselines are the plain Hugging Face ways with their defaults:
- classify: `transformers.pipeline("text-classification")` (one text per forward);
- encode: `sentence_transformers.SentenceTransformer(dir).encode` (batch 32, length-sorted);
- generate: `model.generate` in fp32, batch 1, greedy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from plmkit import backends, loading
from plmkit.backends import Sampling, registry
from plmkit.bench.inputs import bench_classifier, movie_sentences
from plmkit.bench.measure import PeakMemory, Row, percentiles, timed
from plmkit.errors import PlmError


@dataclass
class BenchOptions:
    quick: bool = False
    """Small counts (tests, smoke runs): numbers are then only indicative."""
    encoder: str = "minilm"
    classifier: str | None = None
    """A fine-tuned classifier directory; default: one made once from `encoder`."""
    decoder: str = "smollm2"
    texts: int | None = None
    """Sentences for encode/classify (default 1000; quick 48)."""
    new_tokens: int | None = None
    """Tokens per generation (default 128; quick 8)."""
    concurrent: int = 8
    limits: dict = field(default_factory=dict)

    @property
    def n_texts(self) -> int:
        return self.texts or (48 if self.quick else 1000)

    @property
    def n_tokens(self) -> int:
        return self.new_tokens or (8 if self.quick else 128)

    @property
    def n_latency(self) -> int:
        return 8 if self.quick else 48


def _dtype_of(name: str) -> str:
    return "bf16" if "bf16" in name else "int8" if "int8" in name else "fp32"


def _encoder_flops_per_text(config, mean_tokens: float) -> float:
    """2 x (non-embedding parameters) x tokens, plus attention scores: FLOPs per text."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    per_layer = 4 * hidden * hidden + 2 * hidden * config.intermediate_size
    return 2 * layers * (per_layer * mean_tokens + 2 * hidden * mean_tokens**2)


def _encoder_limit(options: BenchOptions, name: str, config, mean_tokens: float) -> float | None:
    gflops = options.limits.get(f"matmul_{_dtype_of(name)}_gflops")
    return gflops * 1e9 / _encoder_flops_per_text(config, mean_tokens) if gflops else None


def _single_latencies(function, texts: list[str]) -> list[float]:
    return [timed(function, [text])[1] for text in texts]


def _auto_note(kind: str, model: str, task: str = "embed", batch: bool = False) -> str:
    """What auto picks here; the models it loaded are dropped so memory rows start clean."""
    try:
        return backends.choose(model, kind, task, "auto", batch=batch)
    except Exception as error:  # noqa: BLE001 - the table still prints without it
        return f"error: {error}"
    finally:
        backends.unload_all()


def _unavailable(scenario: str, name: str, error: PlmError) -> Row:
    return Row(scenario, name, 0.0, "-", note=f"not available: {error.message}")


@dataclass
class Engine:
    """One contestant: `run` does the whole workload, `single` serves one request."""

    name: str
    run: Callable[[], Any]
    single: Callable[[Any], Any] | None = None
    baseline: bool = False
    memory_mb: float = 0.0
    best_seconds: float = float("inf")
    output: Any = None
    handle: Any = None
    """The model or backend behind `run` (for quality checks after the race)."""


def _enter(engines: list[Engine], load: Callable[[], Engine]) -> Engine:
    """Load an engine and run its workload once (warm-up), recording peak memory."""
    with PeakMemory() as memory:
        engine = load()
        engine.output = engine.run()
    engine.memory_mb = memory.mb
    engines.append(engine)
    return engine


def _race(engines: list[Engine], rounds: int) -> None:
    """Timed rounds, engines interleaved (start rotating), best round kept for each.

    On a shared machine a burst of someone else's work then hits every engine alike.
    """
    for round_ in range(rounds):
        shift = round_ % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            engine.output, seconds = timed(engine.run)
            engine.best_seconds = min(engine.best_seconds, seconds)


def _rounds(options: BenchOptions) -> int:
    return 1 if options.quick else 3


def _latency(engine: Engine, probe: list) -> dict:
    if engine.single is None:
        return {}
    seconds = [timed(engine.single, item)[1] for item in probe]
    p50, p95 = percentiles(seconds)
    return {"p50_ms": p50, "p95_ms": p95}


# --- encode -----------------------------------------------------------------------------


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return float(np.mean((a * b).sum(-1) / np.maximum(norms, 1e-12)))


def encode(options: BenchOptions) -> list[Row]:
    from plmkit.pipelines.encode import encode as plm_encode

    _, _, texts, _ = movie_sentences()
    texts = texts[: options.n_texts]
    probe = [[t] for t in texts[: options.n_latency]]
    tokenizer = loading.cached("tokenizer", options.encoder)
    mean_tokens = float(np.mean([len(x) for x in tokenizer(texts)["input_ids"]]))
    config = loading.load_config(options.encoder)
    engines: list[Engine] = []
    baseline_name = "sentence-transformers encode (defaults)"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        SentenceTransformer = None  # noqa: N806
    if SentenceTransformer is not None:

        def load_st() -> Engine:
            model = SentenceTransformer(str(loading.model_dir(options.encoder)), device="cpu")
            run = partial(model.encode, show_progress_bar=False)
            return Engine(baseline_name, lambda: run(texts), run, baseline=True)

        _enter(engines, load_st)
    auto = _auto_note("encoder", options.encoder)
    for name in registry.installed("encoder"):

        def load(name: str = name) -> Engine:
            run = partial(plm_encode, model=options.encoder, backend=name)
            return Engine(
                f"plmkit encode --backend {name}",
                lambda: run(texts).embeddings,
                lambda batch: run(batch).embeddings,
            )

        _enter(engines, load)
    _race(engines, _rounds(options))
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
                else f"cosine vs fp32 {_cosine(engine.output, reference):.4f}",
                vs="" if engine.baseline or not engines[0].baseline else baseline_name,
                limit=_encoder_limit(options, _dtype_of(name), config, mean_tokens),
                note="auto picks this" if name == auto else "",
                **_latency(engine, probe),
            )
        )
    backends.unload_all()
    return rows


# --- classify ---------------------------------------------------------------------------


def classify(options: BenchOptions) -> list[Row]:
    from transformers import pipeline

    directory = str(options.classifier or bench_classifier(options.encoder))
    _, _, texts, labels = movie_sentences()
    texts, gold = texts[: options.n_texts], np.asarray(labels[: options.n_texts])
    probe = [[t] for t in texts[: options.n_latency]]
    tokenizer = loading.load_tokenizer(directory)
    mean_tokens = float(np.mean([len(x) for x in tokenizer(texts)["input_ids"]]))
    config = loading.load_config(directory)
    baseline_name = 'transformers pipeline("text-classification") (defaults)'
    engines: list[Engine] = []

    def load_pipeline() -> Engine:
        classifier = pipeline("text-classification", model=directory, device="cpu")
        label2id = classifier.model.config.label2id

        def run(batch: list[str]) -> np.ndarray:
            return np.asarray([label2id[o["label"]] for o in classifier(batch)])

        return Engine(baseline_name, lambda: run(texts), run, baseline=True)

    _enter(engines, load_pipeline)
    auto = _auto_note("encoder", directory, "classify")
    for name in registry.installed("encoder"):

        def load(name: str = name) -> Engine:
            backend = backends.load_encoder_backend(directory, "classify", name)

            def run(batch: list[str]) -> np.ndarray:
                logits = backends.forward_sorted(backend, tokenizer, batch)
                return np.argmax(np.stack(logits), -1)

            return Engine(
                f"plmkit --backend {name} (sorted batches of 32)", lambda: run(texts), run
            )

        _enter(engines, load)
    _race(engines, _rounds(options))
    accuracy = {e.name: float(np.mean(e.output == gold)) * 100 for e in engines}
    fp32 = next((e for e in engines if "torch-fp32" in e.name), None)
    rows = []
    for engine in engines:
        name = engine.name.split()[2] if not engine.baseline else "fp32"
        quality = f"accuracy {accuracy[engine.name]:.2f}"
        if fp32 is not None and not engine.baseline and engine is not fp32:
            agree = float(np.mean(engine.output == fp32.output)) * 100
            quality += (
                f" ({accuracy[engine.name] - accuracy[fp32.name]:+.2f} vs fp32, "
                f"same label {agree:.1f}%)"
            )
        rows.append(
            Row(
                "classify",
                engine.name,
                len(texts) / engine.best_seconds,
                "texts/s",
                baseline=engine.baseline,
                peak_mem_mb=engine.memory_mb,
                quality=quality,
                vs="" if engine.baseline else baseline_name,
                limit=_encoder_limit(options, _dtype_of(name), config, mean_tokens),
                note="auto picks this" if name == auto else "",
                **_latency(engine, probe),
            )
        )
    backends.unload_all()
    return rows


# --- generate ---------------------------------------------------------------------------

PROMPTS = (
    "Write a short story about a robot who learns to paint.",
    "Explain how a bicycle works to a ten-year-old.",
    "Give me three tips for learning a new language.",
    "Describe a sunset over the sea.",
    "What should I pack for a weekend hiking trip?",
    "Write a friendly email inviting colleagues to a picnic.",
    "Summarise the plot of a detective novel you invent.",
    "Why is the sky blue? Answer in a paragraph.",
)


def _chat_ids(tokenizer, prompt: str) -> list[int]:
    if not getattr(tokenizer, "chat_template", None):
        return tokenizer(prompt)["input_ids"]
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _weight_bytes(name: str, model: str, parameters: int) -> float | None:
    if name.startswith("llama-cpp"):
        from plmkit.backends.llama_cpp_backend import gguf_path

        gguf = gguf_path(model, name)
        return gguf.stat().st_size if gguf is not None else None
    if name == "ct2-int8":
        return (loading.ct2_model_dir(model, "int8") / "model.bin").stat().st_size
    return parameters * (2 if "bf16" in name else 4)


class _Clock:
    """A transformers streamer that only notes when each piece arrives."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def _hf_engine(options: BenchOptions, prompt: list[int]) -> Engine:
    """HF fp32 generate, batch 1, greedy, exactly n_tokens new tokens."""
    import torch

    model = loading.load_causal_lm(options.decoder)
    ids = torch.tensor([prompt])

    def run() -> tuple[list[int], list[float], float]:
        clock = _Clock()
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                ids,
                max_new_tokens=options.n_tokens,
                min_new_tokens=options.n_tokens,
                do_sample=False,
                streamer=clock,
                pad_token_id=model.generation_config.pad_token_id,
            )
        return out[0, len(prompt) :].tolist(), clock.times[1:], start  # 1st put: the prompt

    return Engine("transformers generate fp32 (batch 1, greedy)", run, baseline=True, handle=model)


def _stream_engine(name: str, options: BenchOptions, prompt: list[int]) -> Engine:
    backend = backends.load_causal_lm_backend(options.decoder, name)

    def run() -> tuple[list[int], list[float], float]:
        tokens, stamps = [], []
        start = time.perf_counter()
        for token in backend.stream(prompt, options.n_tokens, Sampling()):
            tokens.append(token)
            stamps.append(time.perf_counter())
        return tokens, stamps, start

    return Engine(f"plmkit generate --backend {name} (batch 1)", run, handle=backend)


def _timing(engine: Engine) -> dict:
    """TTFT and inter-token latency of the engine's last round."""
    tokens, stamps, start = engine.output
    p50, p95 = percentiles(list(np.diff(stamps)))
    return {"ttft_ms": (stamps[0] - start) * 1000, "p50_ms": p50, "p95_ms": p95}


def generate(options: BenchOptions) -> list[Row]:
    import torch

    tokenizer = loading.cached("tokenizer", options.decoder)
    prompt = _chat_ids(tokenizer, PROMPTS[0])
    config = loading.load_config(options.decoder)
    parameters = _parameter_count(config)
    bandwidth = options.limits.get("memory_bandwidth_gbs")
    auto = _auto_note("decoder", options.decoder)
    auto_batch = _auto_note("decoder", options.decoder, batch=True)
    engines: list[Engine] = []
    hf = _enter(engines, lambda: _hf_engine(options, prompt))
    unavailable: list[Row] = []
    for name in registry.installed("decoder"):
        try:
            _enter(engines, lambda name=name: _stream_engine(name, options, prompt))
        except PlmError as error:  # e.g. llama-cpp on a model without a GGUF
            unavailable.append(_unavailable("generate", f"plmkit --backend {name}", error))
    _race(engines, _rounds(options))
    reference_text = prompt + hf.output[0]
    with torch.inference_mode():
        logits = hf.handle(input_ids=torch.tensor([reference_text])).logits[0, :-1].float()
    picked = logits.log_softmax(-1).gather(1, torch.tensor(reference_text[1:]).unsqueeze(1))
    reference_logprobs = picked.squeeze(1).numpy()[len(prompt) - 1 :]
    singles: dict[str, float] = {}
    batch_capable = []
    rows: list[Row] = []
    for engine in engines:
        name = "fp32" if engine.baseline else engine.name.split()[3]
        tokens = len(engine.output[0])
        quality = "reference (fp32)"
        if not engine.baseline:
            logprobs = engine.handle.token_logprobs(reference_text)[len(prompt) - 1 :]
            ratio = float(np.exp(reference_logprobs.mean() - logprobs.mean()))
            quality = f"perplexity {ratio:.3f}x fp32's on its text"
            singles[name] = tokens / engine.best_seconds
            if type(engine.handle).generate_batch is not backends.CausalLMBackend.generate_batch:
                batch_capable.append(name)
        weights = _weight_bytes(name, options.decoder, parameters)
        rows.append(
            Row(
                "generate",
                engine.name,
                tokens / engine.best_seconds,
                "tokens/s",
                baseline=engine.baseline,
                peak_mem_mb=engine.memory_mb,
                quality=quality,
                vs="" if engine.baseline else hf.name,
                limit=bandwidth * 1e9 / weights if bandwidth and weights else None,
                note="auto picks this" if name == auto else "",
                **_timing(engine),
            )
        )
    del hf, engines
    rows += _concurrent(options, tokenizer, singles, batch_capable, auto_batch) + unavailable
    backends.unload_all()
    return rows


def _concurrent(
    options: BenchOptions,
    tokenizer: Any,
    singles: dict[str, float],
    names: list[str],
    auto_batch: str,
) -> list[Row]:
    """Several prompts at once on the engines with real batching."""
    if not singles:
        return []
    prompts = [_chat_ids(tokenizer, p) for p in (PROMPTS * 2)[: options.concurrent]]
    # the fastest llama.cpp single stream (any GGUF type), else the fastest single stream
    llama = [n for n in singles if n.startswith("llama-cpp")]
    reference = max(llama or singles, key=singles.get)
    engines: list[Engine] = []
    for name in names:

        def load(name: str = name) -> Engine:
            backend = backends.load_causal_lm_backend(options.decoder, name)
            run = partial(backend.generate_batch, prompts, options.n_tokens, Sampling())
            return Engine(f"plmkit --backend {name}, {len(prompts)} prompts at once", run)

        _enter(engines, load)
    _race(engines, _rounds(options))
    rows = []
    for engine in engines:
        name = engine.name.split()[2].rstrip(",")
        total = sum(len(o) for o in engine.output)
        rows.append(
            Row(
                "generate",
                engine.name,
                total / engine.best_seconds,
                "tokens/s",
                peak_mem_mb=engine.memory_mb,
                quality=f"{total} tokens in all",
                ratio=total / engine.best_seconds / singles[reference],
                vs=f"plmkit generate --backend {reference} (batch 1)",
                note="auto picks this for batches" if name == auto_batch else "",
            )
        )
    return rows


def _parameter_count(config) -> int:
    """Parameters of a Llama/GPT-style decoder from its config (no weights loaded)."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", heads) or heads
    head_dim = hidden // heads
    attention = 2 * hidden * hidden + 2 * hidden * kv * head_dim
    mlp = 3 * hidden * getattr(config, "intermediate_size", 4 * hidden)
    embeddings = config.vocab_size * hidden
    tied = getattr(config, "tie_word_embeddings", True)
    return layers * (attention + mlp) + embeddings * (1 if tied else 2)


# --- cold start -------------------------------------------------------------------------


def _plm_command() -> list[str]:
    script = Path(sys.executable).with_name("plm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "plmkit.cli"]


def coldstart(options: BenchOptions) -> list[Row]:
    """Process start to first result for `plm encode` and `plm generate`, twice each."""
    commands = {
        "encode": [*_plm_command(), "encode", "a quick test", "--model", options.encoder],
        "generate": [
            *_plm_command(),
            "generate",
            "Hello",
            "--model",
            options.decoder,
            "--max-new-tokens",
            "1",
            "--no-stream",
        ],
    }
    rows = []
    for verb, command in commands.items():
        for attempt in ("first run", "second run"):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            seconds = time.perf_counter() - start
            rows.append(
                Row(
                    "coldstart",
                    f"plm {verb} ({attempt})",
                    1 / seconds,
                    "runs/s",
                    ttft_ms=seconds * 1000,
                    quality="ok" if done.returncode == 0 else f"exit {done.returncode}",
                    note=done.stderr.strip().splitlines()[-1][:80] if done.returncode else "",
                )
            )
    return rows
