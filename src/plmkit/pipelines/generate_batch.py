"""Several generations decoded together: the batched form of `generate`, for a server.

preprocess (each request's prompt ids, its new-token budget fitted to the context, as
`generate` does) -> _forward (one `decode_batch` of the backend: HF `generate` on
left-padded prompts on torch, llama.cpp sequences in one KV cache, CTranslate2's batches;
each row's tokens streamed through its own text callback and stop strings) -> postprocess
(each completion and why it ended).

Requests decode together only when they share a `batch_key`: the same strategy and
sampling values. Beam search and seeded sampling run alone (`generate`): a seeded draw must
repeat, and in a batch it would depend on its neighbours. Greedy rows give the tokens they
give alone (tested against `generate` on tiny models and in the load test on smollm2).

One row's failure is that row's result, not the batch's: a prompt too long for the context,
or a text callback that raises (the server's 'client gone') stops that row only; the others
go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from plmkit import loading
from plmkit.config import GenerateConfig
from plmkit.pipelines.checks import require_kind
from plmkit.pipelines.generate import (
    GenerateResult,
    _engine,
    _sampling,
    fit_context,
    model_context,
    postprocess,
    preprocess,
)
from plmkit.pipelines.text_stream import TextStreamer
from plmkit.validation import require_messages, require_texts


@dataclass
class BatchRequest:
    prompt: str | list[dict]
    """A text, or chat messages ({"role", "content"})."""
    config: GenerateConfig
    on_text: Callable[[str], None] | None = None
    """Receives this request's text as it is produced; raising stops this request only."""


def batch_key(config: GenerateConfig) -> Hashable | None:
    """What requests must share to be decoded together; None: this one runs alone."""
    if config.strategy == "beam" or (config.strategy == "sample" and config.seed is not None):
        return None
    if config.strategy == "greedy":
        return ("greedy", config.repetition_penalty)
    return ("sample", config.temperature, config.top_k, config.top_p, config.repetition_penalty)


def _normalised(request: BatchRequest) -> tuple[str | list[dict], GenerateConfig]:
    if isinstance(request.prompt, str):
        (prompt,) = require_texts(request.prompt, "prompt")
        return prompt, request.config.validate()
    return require_messages(request.prompt), replace(request.config, chat=True).validate()


@dataclass
class _Row:
    prompt: str | list[dict]
    config: GenerateConfig
    ids: list[int]
    limit: int
    note: str | None
    streamer: TextStreamer
    new_ids: list[int]
    start: float = 0.0
    last_at: float | None = None
    error: BaseException | None = None


def generate_batch(
    requests: list[BatchRequest], model: str = "smollm2", backend: str = "auto"
) -> list[GenerateResult | BaseException]:
    """Each request's result, in order; a request that failed gets its exception instead.

    All requests must share one `batch_key` (a ValueError otherwise)."""
    keys = {batch_key(r.config) for r in requests}
    if len(keys) != 1 or None in keys:
        raise ValueError(f"requests decoded together need one batch_key, got {keys}")
    require_kind(model, "decoder", "generate")
    tokenizer = loading.cached("tokenizer", model)
    declared = model_context(model)
    outcomes: list[GenerateResult | BaseException | None] = [None] * len(requests)
    rows: dict[int, _Row] = {}
    engine = None
    for index, request in enumerate(requests):
        try:
            prompt, config = _normalised(request)
            ids, kwargs = preprocess(prompt, tokenizer, config)
            fit_context(len(ids), 1, declared, model)
            engine = engine or _engine(model, backend, config)
            limit, note = fit_context(
                len(ids), kwargs["max_new_tokens"], engine.context_size, f"{model} on {engine.name}"
            )
        except Exception as error:  # noqa: BLE001 - this request's failure, not the batch's
            outcomes[index] = error
            continue
        streamer = TextStreamer(tokenizer, request.on_text or (lambda _: None), config.stop)
        rows[index] = _Row(prompt, config, ids, limit, note, streamer, [])
    if rows:
        _forward(engine, rows)
    for index, row in rows.items():
        outcomes[index] = _postprocess(row, tokenizer, engine.eos_token_ids, requests[index])
    return outcomes  # type: ignore[return-value]


def _forward(engine, rows: dict[int, _Row]) -> None:
    order = list(rows)
    start = time.perf_counter()
    for row in rows.values():
        row.start = start

    def on_token(position: int, token: int) -> bool:
        row = rows[order[position]]
        row.new_ids.append(token)
        row.last_at = time.perf_counter()
        try:
            row.streamer.add([token])
        except Exception as error:  # noqa: BLE001 - the row's callback: stop this row only
            row.error = error
            return True
        return row.streamer.stopped

    sampling = _sampling(rows[order[0]].config)
    engine.decode_batch(
        [rows[i].ids for i in order], [rows[i].limit for i in order], sampling, on_token
    )


def _postprocess(row: _Row, tokenizer, eos: frozenset[int], request: BatchRequest):
    if row.error is not None:
        return row.error
    text, finish_reason = postprocess(row.new_ids, tokenizer, row.config.stop, eos)
    if request.on_text is not None:
        try:
            row.streamer.end()
        except Exception as error:  # noqa: BLE001 - as in the loop
            return error
    start = row.start
    first = row.streamer.first_token_at
    return GenerateResult(
        prompt=row.prompt,
        text=text,
        prompt_tokens=len(row.ids),
        new_tokens=len(row.new_ids),
        finish_reason=finish_reason,
        seconds=(row.last_at or start) - start,
        first_token_seconds=(first - start) if first else None,
        note=row.note,
    )
