"""`plm bench generate`: decoding, `model.generate` in fp32 (batch 1, greedy) against every
installed decoder backend streaming the same prompt, then several prompts at once on the
backends with real batching. Quality: each backend's perplexity on the fp32 text."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np

from plmkit import backends, loading
from plmkit.backends import Sampling, registry
from plmkit.backends.candidates import not_for_this_cpu
from plmkit.bench.harness import (
    PROBE_TOKENS,
    Engine,
    SlowProbe,
    auto_choice,
    enter,
    probe_rate,
    race,
    sample_limits,
)
from plmkit.bench.limits import DECODER_LIMIT_KEY, decoder_limit, decoder_parameters
from plmkit.bench.measure import Row, percentiles, timed
from plmkit.bench.options import BenchOptions
from plmkit.config import GenerateConfig
from plmkit.errors import PlmError
from plmkit.pipelines.generate import prompt_ids

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


BATCH_ROUND_BUDGET_S = 12.0
"""`race`'s budget for the batched engines: two rounds of 7-9 s (llama.cpp and CTranslate2, 8
prompts on a Zen 3) and no third, 30 s of `plm bench all`. Their ratio is over a single
stream timed best of three, so fewer rounds can only understate it."""


def chat_ids(tokenizer, prompt: str) -> list[int]:
    """Token ids of `prompt` in the model's chat template (the raw prompt if it has none)."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    return prompt_ids(prompt, tokenizer, GenerateConfig(chat=chat))


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

    def run(tokens: int = options.n_tokens) -> tuple[list[int], list[float], float]:
        clock = _Clock()
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                ids,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                streamer=clock,
                pad_token_id=model.generation_config.pad_token_id,
            )
        return out[0, len(prompt) :].tolist(), clock.times[1:], start  # 1st put: the prompt

    return Engine(
        "transformers generate fp32 (batch 1, greedy)",
        run,
        baseline=True,
        handle=model,
        warm=partial(run, PROBE_TOKENS),
    )


def _stream_engine(name: str, options: BenchOptions, prompt: list[int]) -> Engine:
    backend = backends.load_causal_lm_backend(options.decoder, name)

    def run(count: int = options.n_tokens) -> tuple[list[int], list[float], float]:
        tokens, stamps = [], []
        start = time.perf_counter()
        for token in backend.stream(prompt, count, Sampling()):
            tokens.append(token)
            stamps.append(time.perf_counter())
        return tokens, stamps, start

    def probe() -> None:
        list(backend.stream(prompt, PROBE_TOKENS, Sampling()))

    return Engine(
        f"plmkit generate --backend {name} (batch 1)",
        run,
        handle=backend,
        probe=lambda: probe_rate(probe, PROBE_TOKENS),
        warm=partial(run, PROBE_TOKENS),
    )


def _timing(engine: Engine) -> dict:
    """TTFT and inter-token latency of the engine's last round."""
    tokens, stamps, start = engine.output
    p50, p95 = percentiles(list(np.diff(stamps)))
    return {"ttft_ms": (stamps[0] - start) * 1000, "p50_ms": p50, "p95_ms": p95}


def _reference_logprobs(model, prompt: list[int], text: list[int]) -> np.ndarray:
    """fp32's log-probability of each token of `text` after the prompt."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([text])).logits[0, :-1].float()
    picked = logits.log_softmax(-1).gather(1, torch.tensor(text[1:]).unsqueeze(1))
    return picked.squeeze(1).numpy()[len(prompt) - 1 :]


def scenario(options: BenchOptions) -> list[Row]:
    import torch  # noqa: F401 - imported before the first engine's memory is measured

    tokenizer = loading.cached("tokenizer", options.decoder)
    prompt = chat_ids(tokenizer, PROMPTS[0])
    parameters = decoder_parameters(loading.load_config(options.decoder))
    auto = auto_choice("decoder", options.decoder)
    auto_batch = auto_choice("decoder", options.decoder, batch=True)
    engines: list[Engine] = []
    hf = enter(engines, lambda: _hf_engine(options, prompt))
    unavailable: list[Row] = []
    slow = SlowProbe("generate", "tokens/s", options.all_engines, picks=(auto, auto_batch))
    for name in registry.installed("decoder"):
        # one 16-bit llama.cpp copy per CPU, as `auto` tries (torch-bf16 is left to the probe)
        why = None if options.all_engines else not_for_this_cpu(name)
        if why and name.startswith("llama-cpp"):
            note = f"skipped, not timed: {why} (--all-engines times it)"
            unavailable.append(Row("generate", f"plmkit --backend {name}", 0.0, "-", note=note))
            continue
        try:
            enter(engines, lambda name=name: _stream_engine(name, options, prompt), slow, name)
        except PlmError as error:  # e.g. llama-cpp on a model without a GGUF
            unavailable.append(
                Row(
                    "generate",
                    f"plmkit --backend {name}",
                    0.0,
                    "-",
                    note=f"not available: {error.message}",
                )
            )
    race(engines, options.rounds, between=sample_limits(options))
    reference_text = prompt + hf.output[0]
    reference_logprobs = _reference_logprobs(hf.handle, prompt, reference_text)
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
            if engine.handle.batches:
                batch_capable.append(name)
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
                limit=decoder_limit(options, name, options.decoder, parameters),
                limit_from=DECODER_LIMIT_KEY,
                note="auto picks this" if name == auto else "",
                rounds=engine.rounds_run,
                round_seconds=engine.round_seconds,
                **_timing(engine),
            )
        )
    del hf, engines
    rows += _concurrent(options, tokenizer, singles, batch_capable, auto, auto_batch)
    rows += slow.skipped + unavailable
    backends.unload_all()
    return rows


def _concurrent(
    options: BenchOptions,
    tokenizer: Any,
    singles: dict[str, float],
    names: list[str],
    auto: str,
    auto_batch: str,
) -> list[Row]:
    """Several prompts at once on the engines with real batching, against one stream of
    `reference_stream`'s engine."""
    if not singles:
        return []
    prompts = [chat_ids(tokenizer, p) for p in (PROMPTS * 2)[: options.concurrent]]
    reference = reference_stream(singles, auto)
    fastest = max(singles, key=singles.get)
    engines: list[Engine] = []
    # a batch engine far slower than the fastest single stream is probed, not timed (against
    # auto's slower stream, torch-fp32's 8 prompts were timed: 90 s of the Zen 3's bench)
    slow = SlowProbe(
        "generate",
        "tokens/s",
        options.all_engines,
        reference=f"one {fastest} stream",
        reference_rate=singles[fastest],
        compared="(its batch 1 run; the probe is 8 new tokens a prompt, prefill included)",
        picks=(auto_batch,),
    )
    for name in names:

        def load(name: str = name) -> Engine:
            backend = backends.load_causal_lm_backend(options.decoder, name)
            run = partial(backend.generate_batch, prompts, options.n_tokens, Sampling())
            probe = partial(_batch_probe, backend, prompts)
            label = f"plmkit --backend {name}, {len(prompts)} prompts at once"
            warm = partial(backend.generate_batch, prompts, PROBE_TOKENS, Sampling())
            return Engine(label, run, probe=probe, warm=warm)

        enter(engines, load, slow, name)
    if not engines:
        return slow.skipped
    # the reference stream again, timed in the same rounds as the batches (and in every
    # round: it is their baseline), so that a slow spell of the machine falls on both sides
    # of the ratio. On a Zen 4 8 prompts read 1.97x against the stream's own race, 3.8-4.1x
    # paired in a process of their own; paired here they still read 1.96-2.74x while
    # llama.cpp was built with OpenMP, whose barriers slept in futex calls once CTranslate2
    # had run after a torch model in the process (the Makefile's GGML_OPENMP=OFF: 3.06x)
    paired = enter(engines, lambda: _stream_engine(reference, options, prompts[0]))
    paired.baseline = True
    race(engines, options.rounds, BATCH_ROUND_BUDGET_S)
    engines.remove(paired)
    single = len(paired.output[0]) / paired.best_seconds
    rows = []
    for engine in engines:
        name = _backend(engine)
        total = _tokens(engine)
        notes = ["auto picks this for batches"] if name == auto_batch else []
        notes.append(
            f"one {reference} stream {single:.1f} tok/s in these rounds "
            f"({singles[reference]:.1f} in its own)"
        )
        if fastest != reference:  # the same batch against the fastest stream of any quality
            rate = total / engine.best_seconds / singles[fastest]
            notes.append(f"{rate:.2f}x one {fastest} stream ({singles[fastest]:.1f} tok/s)")
        rows.append(
            Row(
                "generate",
                engine.name,
                total / engine.best_seconds,
                "tokens/s",
                peak_mem_mb=engine.memory_mb,
                quality=f"{total} tokens in all",
                ratio=total / engine.best_seconds / single,
                vs=f"plmkit generate --backend {reference} (batch 1)",
                note="; ".join(notes),
                rounds=engine.rounds_run,
                round_seconds=engine.round_seconds,
            )
        )
    return rows + slow.skipped


def reference_stream(singles: dict[str, float], auto: str) -> str:
    """The single stream that batches are compared with: the engine `auto` runs one prompt
    on, as a user sending one prompt at a time would get. Engines `auto` rejects for changed
    chat answers (llama.cpp's Q4_1 and Q8_0 on smollm2) are faster alone, but a ratio against
    them mixes a loss of quality into a gain of batching (their figure goes in the note).
    Without `auto`'s pick timed: the fastest llama.cpp stream, else the fastest one."""
    if auto in singles:
        return auto
    llama = [n for n in singles if n.startswith("llama-cpp")]
    return max(llama or singles, key=singles.get)


def _batch_probe(backend: Any, prompts: list[list[int]]) -> float:
    """tokens/s of the prompts at once for PROBE_TOKENS new tokens each (after a warm-up)."""
    backend.generate_batch(prompts, PROBE_TOKENS, Sampling())
    outputs, seconds = timed(backend.generate_batch, prompts, PROBE_TOKENS, Sampling())
    return sum(len(o) for o in outputs) / max(seconds, 1e-9)


def _tokens(engine: Engine) -> int:
    return sum(len(o) for o in engine.output)


def _backend(engine: Engine) -> str:
    return engine.name.split()[2].rstrip(",")  # "plmkit --backend NAME, N prompts at once"
