"""llama.cpp on the GGUF a decoder ships (smollm2's Q4_1), through llama-cpp-python.

llama-cpp-python is an optional extra built from source (`make setup` tries a lean build,
about 3 minutes on 2 cores; `make fast-llama` retries), so it is imported only when this
backend is used. It reads the GGUF directly: no conversion. The weights are read into huge
pages where plmkit's llama.cpp build advises them (`weights_in_huge_pages`), else
memory-mapped, as they are for a short one-shot `plm generate` (`expect_one_shot`). Threads
for one sequence are measured once per CPU, file and load (`decode_threads`); prompts and
batches use every torch thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from plmkit import loading
from plmkit.backends import decode_threads
from plmkit.backends.base import CausalLMBackend, OnToken, Sampling
from plmkit.errors import BackendUnavailableError
from plmkit.hardware import CpuWindow, cpu_info

CONTEXT = 2048
"""Tokens of KV cache a single-stream context is opened with: prompt and new tokens of one
sequence fit in it, or in the model's trained context where that is shorter (the backend's
`context_size`). smollm2 was trained on 8,192; opening at that held 135 MB more KV cache
(RSS 202 -> 337 MB), so longer sequences are left to the torch backends, which hold all 8,192."""
VARIANTS: dict[str, str | None] = {
    "llama-cpp": None,
    "llama-cpp-q8": "q8_0",
    "llama-cpp-bf16": "bf16",
    "llama-cpp-f16": "f16",
}
"""Backend name -> the rewrite of the shipped GGUF it runs (None: the file as shipped)."""
FLASH_ATTENTION = True
"""Both llama.cpp contexts (a backend's single stream and a batch's) run flash attention, the
same in both so that a batched answer stays near the same prompt's alone (its sums round
otherwise, and tied greedy logits break the other way). Measured on a 2-core Zen 4 (smollm2
bf16, blocks of 16 steps alternating between two contexts in one process, 16 blocks each):
8 sequences 1.22x the tokens/s without it (faster in 16 of 16 blocks), one 1.04x (13 of 16)."""
PROBE_TOKENS = 16
"""Tokens each thread count decodes in each of decode_threads' probe rounds."""
_PARAMS_LOCK = threading.Lock()


def weights_in_huge_pages() -> bool:
    """Whether to read the weights into memory (use_mmap off) rather than map the file: where
    plmkit's llama.cpp build puts large buffers in transparent huge pages (the huge-pages
    patch, tools/patch_llama.py). Decoding reads every weight each token; smollm2 as bf16 in
    4 KiB pages of the mapped file is 66,000 pages, far beyond the TLB. On a 2-core Zen 4 one
    bf16 stream took 8.84-9.09 ms a token in huge pages against 10.14-10.64 mapped (the same
    build, three loads each); the load took 0.15-0.8 s instead of 0.11-0.23 (the kernel
    clears the pages first). Without the patch the file stays mapped: it starts fastest."""
    from plmkit.backends import registry

    return "huge-pages" in registry.llama_cpp_patches()


ONE_SHOT_TOKENS = 256
"""A one-shot command that decodes fewer new tokens than this maps the weights file instead
of reading it into huge pages: the huge pages save ~1.3 ms a token (smollm2 bf16, 2-core Zen
4) but cost their clearing at load, 0.15-0.66 s against 0.15-0.23 s mapped, so `plm
generate`'s default 64 tokens started in 0.62-1.53 s (five runs; the bench's cold start
median of three 1.04 s)."""
_one_shot_tokens: int | None = None


def expect_one_shot(new_tokens: int) -> None:
    """Say, before a backend loads, that this process decodes once, at most `new_tokens` new
    tokens (`plm generate`); where that is below ONE_SHOT_TOKENS, llama.cpp maps the file."""
    global _one_shot_tokens
    _one_shot_tokens = new_tokens


def map_weights() -> bool:
    """Whether llama.cpp maps the weights file (use_mmap): without the huge-pages patch, and
    for a short one-shot decode (`expect_one_shot`)."""
    if not weights_in_huge_pages():
        return True
    return _one_shot_tokens is not None and _one_shot_tokens < ONE_SHOT_TOKENS


def amx_int8_built() -> bool:
    """Whether this llama.cpp build has ggml's AMX int8 kernels (GGML_NATIVE on a CPU with
    AMX). On an Intel Xeon with AMX (2 cores, KVM), llama-cpp-python 0.3.36 built that way
    crashed the whole process (SIGSEGV in llama_decode) on the first prompt of 29 tokens with
    the shipped Q4_1 file and with its Q8_0 rewrite; BF16 ran."""
    import llama_cpp

    return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode("utf-8", "replace")


@contextmanager
def _without_extra_buffers(disable: bool) -> Iterator[None]:
    """Load a model without ggml's extra CPU buffer types (AMX, weight repacking): the
    `use_extra_bufts` model parameter, which `Llama()` does not expose, so its default is
    swapped for the duration of the load."""
    if not disable:
        yield
        return
    import llama_cpp.llama as llama_module

    with _PARAMS_LOCK:
        default = llama_module.llama_cpp.llama_model_default_params

        def params():
            values = default()
            values.use_extra_bufts = False
            return values

        llama_module.llama_cpp.llama_model_default_params = params
        try:
            yield
        finally:
            llama_module.llama_cpp.llama_model_default_params = default


def gguf_path(model: str, name: str) -> Path | None:
    """The GGUF file backend `name` runs for `model` (rewritten once if a variant)."""
    variant = VARIANTS[name]
    return loading.gguf_requantized(model, variant) if variant else loading.gguf_file(model)


class LlamaCppCausalLM(CausalLMBackend):
    name = "llama-cpp"

    def __init__(self, model: str, name: str = "llama-cpp") -> None:
        """`name`: llama-cpp (the GGUF as shipped), llama-cpp-q8, -bf16 or -f16."""
        from llama_cpp import Llama

        self.name = name
        path = gguf_path(model, name)
        if path is None:
            raise BackendUnavailableError(
                f"'{model}' has no GGUF file, which the llama-cpp backend needs",
                "use --backend ct2-int8 or torch-fp32, or put a .gguf in the model directory",
            )
        # quantised weights through the AMX int8 kernels crash (amx_int8_built); 16-bit have none
        quantised = name not in ("llama-cpp-bf16", "llama-cpp-f16")
        window = CpuWindow()  # the load probe for the thread choice runs while the model loads
        with _without_extra_buffers(quantised and amx_int8_built()):
            self.llm = Llama(
                model_path=str(path),
                n_ctx=CONTEXT,
                n_batch=512,
                n_threads=1,
                n_threads_batch=cpu_info().threads,
                flash_attn=FLASH_ATTENTION,
                use_mmap=map_weights(),
                verbose=False,
            )
        self.eos_token_ids = frozenset({self.llm.token_eos()})
        self.threads = decode_threads.stream_threads(
            path,
            self._tokens_per_second,
            lambda: window.busy_cores(decode_threads.LOAD_PROBE_SECONDS),
        )
        self._set_threads(self.threads)
        self._tuner = decode_threads.tuner(self.threads)  # checks the count while streaming
        self._batch_context = None  # llama_batch.KeptContext: the last batch's context

    def _set_threads(self, threads: int) -> None:
        import llama_cpp

        llama_cpp.llama_set_n_threads(self.llm._ctx.ctx, threads, cpu_info().threads)

    def _tokens_per_second(self, threads: int) -> float:
        """Single-token decode speed on `threads` (one token fed again and again: the same
        work per step as generating) over PROBE_TOKENS steps."""
        from llama_cpp._internals import LlamaBatch

        self._set_threads(threads)
        context, steps = self.llm._ctx, min(PROBE_TOKENS, self.context_size - 1)
        token = max(self.llm.token_bos(), 0)
        batch = LlamaBatch(n_tokens=1, embd=0, n_seq_max=1, verbose=False)
        try:
            context.kv_cache_clear()
            start = time.perf_counter()
            for position in range(steps):
                batch.set_batch([token], n_past=position, logits_all=True)
                context.decode(batch)
            return steps / (time.perf_counter() - start)
        finally:
            batch.close()
            context.kv_cache_clear()
            self.llm.n_tokens = 0

    @property
    def context_size(self) -> int:
        """The context opened (CONTEXT), or the one the model was trained on where shorter."""
        return min(self.llm.n_ctx(), self.llm._model.n_ctx_train())

    def stream(
        self, prompt_ids: Sequence[int], max_new_tokens: int, sampling: Sampling
    ) -> Iterator[int]:
        new_tokens = self.room(len(prompt_ids), max_new_tokens)
        if new_tokens == 0:
            return
        if not sampling.greedy and sampling.seed is not None:
            self.llm.set_seed(sampling.seed)
        steps = self.llm.generate(
            list(prompt_ids),
            top_k=1 if sampling.greedy else sampling.top_k,
            top_p=sampling.top_p,
            temp=0.0 if sampling.greedy else sampling.temperature,
            repeat_penalty=sampling.repetition_penalty,
            reset=True,
        )
        count = 0
        while True:  # each next() decodes the last token and picks the next one
            if count and (threads := self._tuner.threads()) != self.threads:
                self._set_threads(threads)
                self.threads = threads
            start = time.perf_counter()
            token = next(steps, None)
            if token is None:
                return
            if count:  # the first step is the prompt's, on the batch threads
                self._tuner.record(time.perf_counter() - start)
            count += 1
            yield token
            if token in self.eos_token_ids or count >= new_tokens:
                return  # before llama.cpp decodes a token that has no room

    batches = True

    def decode_batch(
        self,
        prompts: Sequence[Sequence[int]],
        limits: Sequence[int],
        sampling: Sampling,
        on_token: OnToken,
    ) -> None:
        """All prompts decoded together: one llama_decode per step for every live sequence
        (`llama_batch`), each sequence as long as its prompt and the new tokens it has room
        for; the batch's context is kept for the next batch, whose prompts reuse what its
        caches hold."""
        from plmkit.backends.llama_batch import decode_llama_batch

        limits = [self.room(len(p), limit) for p, limit in zip(prompts, limits, strict=True)]
        kept, self._batch_context = self._batch_context, None
        self._batch_context = decode_llama_batch(
            self.llm, prompts, limits, self.eos_token_ids, sampling, on_token, kept
        )

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """Logits for every position from one batched decode (chunks of n_batch tokens)."""
        from llama_cpp._internals import LlamaBatch

        context, vocab, step = self.llm._ctx, self.llm.n_vocab(), self.llm.n_batch
        context.kv_cache_clear()
        self.llm.n_tokens = 0  # the next generate() must not reuse this KV cache
        batch = LlamaBatch(n_tokens=step, embd=0, n_seq_max=1, verbose=False)
        rows = []
        try:
            for start in range(0, len(ids) - 1, step):
                chunk = list(ids[start : min(start + step, len(ids) - 1)])
                batch.set_batch(chunk, n_past=start, logits_all=True)
                context.decode(batch)
                for row in range(len(chunk)):
                    logits = np.ctypeslib.as_array(context.get_logits_ith(row), shape=(vocab,))
                    rows.append(logits.astype(np.float64))
        finally:
            batch.close()
            context.kv_cache_clear()
        logits = np.stack(rows)  # (T - 1, V)
        top = logits.max(-1, keepdims=True)
        logsumexp = top[:, 0] + np.log(np.exp(logits - top).sum(-1))
        return (logits[np.arange(len(rows)), list(ids[1:])] - logsumexp).astype(np.float32)

    def close(self) -> None:
        if self._batch_context is not None:
            self._batch_context.close()
            self._batch_context = None
        self.llm.close()
