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
from dataclasses import dataclass, field
from pathlib import Path

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
    try:
        return backends.choose(model, kind, task, "auto", batch=batch)
    except Exception as error:  # noqa: BLE001 - the table still prints without it
        return f"error: {error}"


def _unavailable(scenario: str, name: str, error: PlmError) -> Row:
    return Row(scenario, name, 0.0, "-", note=f"not available: {error.message}")


# --- encode -----------------------------------------------------------------------------


def encode(options: BenchOptions) -> list[Row]:
    from plmkit.pipelines.encode import encode as plm_encode

    _, _, texts, _ = movie_sentences()
    texts = texts[: options.n_texts]
    probe = texts[: options.n_latency]
    tokenizer = loading.cached("tokenizer", options.encoder)
    mean_tokens = float(np.mean([len(x) for x in tokenizer(texts)["input_ids"]]))
    rows: list[Row] = []
    reference = None
    baseline_name = "sentence-transformers encode (defaults)"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        SentenceTransformer = None  # noqa: N806
    if SentenceTransformer is not None:
        with PeakMemory() as memory:
            model = SentenceTransformer(str(loading.model_dir(options.encoder)), device="cpu")
            model.encode(texts[:8])
            reference, seconds = timed(model.encode, texts)
        latencies = _single_latencies(model.encode, probe)
        rows.append(
            Row(
                "encode",
                baseline_name,
                len(texts) / seconds,
                "texts/s",
                baseline=True,
                peak_mem_mb=memory.mb,
                quality="reference (fp32)",
                limit=_encoder_limit(options, "fp32", model[0].auto_model.config, mean_tokens),
                **dict(zip(("p50_ms", "p95_ms"), percentiles(latencies), strict=True)),
            )
        )
        del model
    auto = _auto_note("encoder", options.encoder)
    for name in registry.installed("encoder"):
        backends.unload_all()
        with PeakMemory() as memory:
            plm_encode(texts[:8], options.encoder, backend=name)
            result, seconds = timed(plm_encode, texts, options.encoder, backend=name)
        embeddings = result.embeddings
        if reference is None:
            reference = embeddings
        cosine = float(
            np.mean(
                (embeddings * reference).sum(-1)
                / (np.linalg.norm(embeddings, axis=-1) * np.linalg.norm(reference, axis=-1))
            )
        )
        latencies = _single_latencies(
            lambda batch, n=name: plm_encode(batch, options.encoder, backend=n), probe
        )
        config = backends.load_encoder_backend(options.encoder, "embed", name).config
        rows.append(
            Row(
                "encode",
                f"plmkit encode --backend {name}",
                len(texts) / seconds,
                "texts/s",
                peak_mem_mb=memory.mb,
                quality=f"cosine vs fp32 {cosine:.4f}",
                vs=baseline_name if rows and rows[0].baseline else "",
                limit=_encoder_limit(options, name, config, mean_tokens),
                note="auto picks this" if name == auto else "",
                **dict(zip(("p50_ms", "p95_ms"), percentiles(latencies), strict=True)),
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
    probe = texts[: options.n_latency]
    tokenizer = loading.load_tokenizer(directory)
    mean_tokens = float(np.mean([len(x) for x in tokenizer(texts)["input_ids"]]))
    baseline_name = 'transformers pipeline("text-classification") (defaults)'
    with PeakMemory() as memory:
        classifier = pipeline("text-classification", model=directory, device="cpu")
        label2id = classifier.model.config.label2id
        classifier(texts[:8])
        outputs, seconds = timed(classifier, texts)
    base_accuracy = float(np.mean([label2id[o["label"]] for o in outputs] == gold)) * 100
    latencies = _single_latencies(classifier, probe)
    rows = [
        Row(
            "classify",
            baseline_name,
            len(texts) / seconds,
            "texts/s",
            baseline=True,
            peak_mem_mb=memory.mb,
            quality=f"accuracy {base_accuracy:.2f}",
            limit=_encoder_limit(options, "fp32", classifier.model.config, mean_tokens),
            **dict(zip(("p50_ms", "p95_ms"), percentiles(latencies), strict=True)),
        )
    ]
    del classifier
    auto = _auto_note("encoder", directory, "classify")
    fp32_accuracy = None
    for name in registry.installed("encoder"):
        backends.unload_all()
        with PeakMemory() as memory:
            backend = backends.load_encoder_backend(directory, "classify", name)
            backends.forward_sorted(backend, tokenizer, texts[:8])
            logits, seconds = timed(backends.forward_sorted, backend, tokenizer, texts)
        accuracy = float(np.mean(np.argmax(np.stack(logits), -1) == gold)) * 100
        fp32_accuracy = accuracy if name == "torch-fp32" else fp32_accuracy
        latencies = _single_latencies(
            lambda batch, b=backend: backends.forward_sorted(b, tokenizer, batch), probe
        )
        quality = f"accuracy {accuracy:.2f}"
        if fp32_accuracy is not None and name != "torch-fp32":
            quality += f" ({accuracy - fp32_accuracy:+.2f} vs fp32)"
        rows.append(
            Row(
                "classify",
                f"plmkit --backend {name} (sorted batches of 32)",
                len(texts) / seconds,
                "texts/s",
                peak_mem_mb=memory.mb,
                quality=quality,
                vs=baseline_name,
                limit=_encoder_limit(options, name, backend.config, mean_tokens),
                note="auto picks this" if name == auto else "",
                **dict(zip(("p50_ms", "p95_ms"), percentiles(latencies), strict=True)),
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
    if name == "llama-cpp" and (gguf := loading.gguf_file(model)) is not None:
        return gguf.stat().st_size
    if name == "ct2-int8":
        return (loading.ct2_model_dir(model, "int8") / "model.bin").stat().st_size
    return parameters * (2 if "bf16" in name else 4)


def _hf_baseline(options: BenchOptions, prompt: list[int]) -> tuple[Row, list[int], np.ndarray]:
    """HF fp32 generate, batch 1, greedy; per-token times from a streamer."""
    import torch

    class Clock:
        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    with PeakMemory() as memory:
        model = loading.load_causal_lm(options.decoder)
        ids = torch.tensor([prompt])
        with torch.inference_mode():
            model.generate(ids, max_new_tokens=2, do_sample=False)
            clock = Clock()
            start = time.perf_counter()
            out = model.generate(
                ids,
                max_new_tokens=options.n_tokens,
                min_new_tokens=options.n_tokens,
                do_sample=False,
                streamer=clock,
            )
            seconds = time.perf_counter() - start
    new = out[0, len(prompt) :].tolist()
    token_times = clock.times[1:]  # the first put is the prompt
    gaps = list(np.diff(token_times))
    with torch.inference_mode():
        logits = model(input_ids=out).logits[0, :-1].float()
    logprobs = logits.log_softmax(-1).gather(1, out[0, 1:].unsqueeze(1)).squeeze(1).numpy()
    parameters = sum(p.numel() for p in model.parameters())
    bandwidth = options.limits.get("memory_bandwidth_gbs")
    row = Row(
        "generate",
        "transformers generate fp32 (batch 1, greedy)",
        len(new) / seconds,
        "tokens/s",
        baseline=True,
        ttft_ms=(token_times[0] - start) * 1000,
        peak_mem_mb=memory.mb,
        quality="reference (fp32)",
        limit=bandwidth * 1e9 / (parameters * 4) if bandwidth else None,
        **dict(zip(("p50_ms", "p95_ms"), percentiles(gaps), strict=True)),
    )
    del model
    return row, new, logprobs[len(prompt) - 1 :]


def generate(options: BenchOptions) -> list[Row]:
    tokenizer = loading.cached("tokenizer", options.decoder)
    prompt = _chat_ids(tokenizer, PROMPTS[0])
    baseline, reference_new, reference_logprobs = _hf_baseline(options, prompt)
    rows = [baseline]
    config = loading.load_config(options.decoder)
    parameters = _parameter_count(config)
    bandwidth = options.limits.get("memory_bandwidth_gbs")
    auto = _auto_note("decoder", options.decoder)
    auto_batch = _auto_note("decoder", options.decoder, batch=True)
    singles: dict[str, float] = {}
    batch_capable = []
    for name in registry.installed("decoder"):
        backends.unload_all()
        with PeakMemory() as memory:
            try:
                backend = backends.load_causal_lm_backend(options.decoder, name)
            except PlmError as error:  # e.g. llama-cpp on a model without a GGUF
                rows.append(_unavailable("generate", f"plmkit --backend {name}", error))
                continue
            list(backend.stream(prompt, 2, Sampling()))
            start = time.perf_counter()
            stamps = []
            for _ in backend.stream(prompt, options.n_tokens, Sampling()):
                stamps.append(time.perf_counter())
        seconds = stamps[-1] - start
        logprobs = backend.token_logprobs(prompt + reference_new)[len(prompt) - 1 :]
        ratio = float(np.exp(reference_logprobs.mean() - logprobs.mean()))
        weights = _weight_bytes(name, options.decoder, parameters)
        singles[name] = len(stamps) / seconds
        rows.append(
            Row(
                "generate",
                f"plmkit generate --backend {name} (batch 1)",
                len(stamps) / seconds,
                "tokens/s",
                ttft_ms=(stamps[0] - start) * 1000,
                peak_mem_mb=memory.mb,
                quality=f"perplexity {ratio:.3f}x fp32's on its text",
                vs=baseline.name,
                limit=bandwidth * 1e9 / weights if bandwidth and weights else None,
                note="auto picks this" if name == auto else "",
                **dict(zip(("p50_ms", "p95_ms"), percentiles(list(np.diff(stamps))), strict=True)),
            )
        )
        if type(backend).generate_batch is not backends.CausalLMBackend.generate_batch:
            batch_capable.append(name)
    prompts = [_chat_ids(tokenizer, p) for p in (PROMPTS * 2)[: options.concurrent]]
    reference_name = "llama-cpp" if "llama-cpp" in singles else max(singles, key=singles.get)
    for name in batch_capable:
        backends.unload_all()
        with PeakMemory() as memory:
            backend = backends.load_causal_lm_backend(options.decoder, name)
            backend.generate_batch(prompts[:2], 2, Sampling())
            outputs, seconds = timed(backend.generate_batch, prompts, options.n_tokens, Sampling())
        total = sum(len(o) for o in outputs)
        rows.append(
            Row(
                "generate",
                f"plmkit --backend {name}, {len(prompts)} prompts at once",
                total / seconds,
                "tokens/s",
                peak_mem_mb=memory.mb,
                quality=f"{total} tokens",
                ratio=total / seconds / singles[reference_name],
                vs=f"plmkit --backend {reference_name} (batch 1)",
                note="auto picks this for batches" if name == auto_batch else "",
            )
        )
    backends.unload_all()
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
