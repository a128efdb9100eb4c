"""/v1/completions and /v1/chat/completions, as OpenAI answers them, streamed or whole.

A request becomes one `Generation`, run in a worker thread within a slot: it hands its
generation to the model's decode queue (`decoding`: requests that arrive together are
decoded as one batch) and, when asked for `logprobs`, scores the completion
(`pipelines.logprobs`: the fp32 model's own probabilities). Its text callback checks a
cancel flag, so a stream whose client leaves, or a request past its deadline, stops within
a word and frees its slot.

A stream (`stream: true`) answers with headers only once the first event is there, so a
request that fails its checks (a prompt longer than the context) still gets its 4xx; then
server-sent events: OpenAI's chunks, the final chunk with `finish_reason`, the usage chunk
with empty `choices` when `stream_options.include_usage`, and `data: [DONE]`. A deadline
passed mid-stream ends it with an error event. Logprobs are not streamed (400): they are
scored after the text is complete.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from plmkit.config import GenerateConfig
from plmkit.pipelines.generate import GenerateResult
from plmkit.pipelines.logprobs import TokenLogprob, completion_logprobs
from plmkit.serve.decoding import ClientGone, DecodeQueue
from plmkit.serve.errors import ApiError
from plmkit.serve.limits import run_in_slot, timed_out
from plmkit.serve.schemas import ChatRequest, CompletionRequest, Sampling
from plmkit.serve.state import ServerState, call_engine

Scored = list[TokenLogprob] | None


def generate_config(body: Sampling) -> GenerateConfig:
    sampling = bool(body.temperature)
    return GenerateConfig(
        max_new_tokens=body.new_tokens(),
        strategy="sample" if sampling else "greedy",
        temperature=body.temperature if sampling else 1.0,
        top_p=body.top_p,
        top_k=body.top_k,
        seed=body.seed,
        stop=body.stops(),
    )


@dataclass
class Generation:
    prompt: str | list[dict]
    model: str
    config: GenerateConfig
    decoder: DecodeQueue
    top_logprobs: int | None = None
    """None: no logprobs; else how many alternatives per token."""
    cancel: threading.Event = field(default_factory=threading.Event)
    on_text: Callable[[str], None] = lambda _: None

    def run(self) -> tuple[GenerateResult, Scored]:
        result = self.decoder.generate(self.prompt, self.config, self.on_text, self.cancel)
        if self.top_logprobs is None:
            return result, None
        return result, completion_logprobs(self.prompt, result.text, self.model, self.top_logprobs)


def usage(result: GenerateResult) -> dict:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.new_tokens,
        "total_tokens": result.prompt_tokens + result.new_tokens,
    }


class CompletionShape:
    """OpenAI's text_completion objects."""

    def __init__(self, model: str, prefix: str = "cmpl", kind: str = "text_completion") -> None:
        self.model, self.kind = model, kind
        self.id, self.created = f"{prefix}-{uuid.uuid4().hex[:24]}", int(time.time())

    def head(self, kind: str | None = None) -> dict:
        return {"id": self.id, "object": kind or self.kind, "created": self.created,
                "model": self.model}  # fmt: skip

    def first(self) -> dict | None:
        return None

    def chunk(self, text: str, finish: str | None) -> dict:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return {**self.head(), "choices": [choice]}

    def usage_chunk(self, result: GenerateResult) -> dict:
        return {**self.head(), "choices": [], "usage": usage(result)}

    def whole(self, result: GenerateResult, scored: Scored) -> dict:
        choice = {"index": 0, "text": result.text, "finish_reason": result.finish_reason}
        choice["logprobs"] = None
        if scored is not None:
            choice["logprobs"] = {
                "tokens": [t.token for t in scored],
                "token_logprobs": [t.logprob for t in scored],
                "top_logprobs": [dict(t.top) for t in scored],
                "text_offset": [t.offset for t in scored],
            }
        return {**self.head(), "choices": [choice], "usage": usage(result)}


class ChatShape(CompletionShape):
    """OpenAI's chat.completion and chat.completion.chunk objects."""

    def __init__(self, model: str) -> None:
        super().__init__(model, "chatcmpl", "chat.completion.chunk")

    def first(self) -> dict:
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        return {**self.head(), "choices": [choice]}

    def chunk(self, text: str, finish: str | None) -> dict:
        delta = {"content": text} if text else {}
        return {**self.head(), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def whole(self, result: GenerateResult, scored: Scored) -> dict:
        message = {"role": "assistant", "content": result.text}
        choice = {"index": 0, "message": message, "finish_reason": result.finish_reason}
        choice["logprobs"] = None
        if scored is not None:
            content = [{**entry(t.token, t.logprob), "top_logprobs": [entry(*p) for p in t.top]}
                       for t in scored]  # fmt: skip
            choice["logprobs"] = {"content": content, "refusal": None}
        return {**self.head("chat.completion"), "choices": [choice], "usage": usage(result)}


def entry(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


class EventStream(StreamingResponse):
    """Server-sent events that call `on_close` however the response ends (done, or the
    client gone: Starlette then stops iterating)."""

    def __init__(self, events: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(events, media_type="text/event-stream", headers=headers)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


def sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


def generation_routes(state: ServerState) -> APIRouter:
    router = APIRouter()
    settings, metrics = state.settings, state.metrics

    def job(body: Sampling, prompt, model: str, top: int | None) -> Generation:
        return Generation(prompt, model, generate_config(body), state.decoder(model), top)

    async def answer(body: Sampling, generation: Generation, shape: CompletionShape):
        if generation.top_logprobs is not None and body.stream:
            raise ApiError(
                400,
                "logprobs are not available with stream: true (they are scored once the "
                "completion is complete)",
                param="logprobs",
                code="unsupported_parameter",
                fix="ask for logprobs without stream, or stream without logprobs",
            )
        if body.stream:
            return await stream(generation, shape, body.include_usage())
        timeout = settings.request_timeout
        work = run_in_slot(state.slots, state.executor, timeout, generation.run, generation.cancel)
        result, scored = await call_engine(work)
        metrics.tokens_generated.labels(generation.model).inc(result.new_tokens)
        return shape.whole(result, scored)

    async def stream(generation: Generation, shape: CompletionShape, include_usage: bool):
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        deadline = loop.time() + settings.request_timeout

        def put(kind: str, value: object) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, (kind, value))
            except RuntimeError:  # the loop has closed: nobody is listening
                pass

        def work() -> None:
            try:
                put("done", generation.run())
            except ClientGone:
                metrics.cancelled.inc()
                put("gone", None)
            except BaseException as error:  # noqa: BLE001 - handed to the stream
                put("error", error)

        generation.on_text = lambda piece: put("text", piece)
        await state.slots.acquire()
        try:
            running = loop.run_in_executor(state.executor, work)
        except BaseException:
            state.slots.release()
            raise
        running.add_done_callback(lambda _: state.slots.release())

        async def next_event() -> tuple[str, object]:
            try:
                return await asyncio.wait_for(events.get(), max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                generation.cancel.set()
                return "timeout", None
            except asyncio.CancelledError:
                generation.cancel.set()
                raise

        first = await next_event()
        if first[0] == "timeout":
            raise timed_out(settings.request_timeout)
        if first[0] == "error":
            await call_engine(raise_(first[1]))

        async def chunks() -> AsyncIterator[str]:
            if shape.first() is not None:
                yield sse(shape.first())
            kind, value = first
            while True:
                if kind == "text":
                    yield sse(shape.chunk(value, None))
                elif kind == "done":
                    result, _ = value
                    metrics.tokens_generated.labels(generation.model).inc(result.new_tokens)
                    yield sse(shape.chunk("", result.finish_reason))
                    if include_usage:
                        yield sse(shape.usage_chunk(result))
                    break
                elif kind == "error":
                    try:
                        await call_engine(raise_(value))
                    except ApiError as error:
                        yield sse(error.body())
                    break
                elif kind == "timeout":
                    yield sse(timed_out(settings.request_timeout).body())
                    break
                else:
                    break
                kind, value = await next_event()
            yield sse("[DONE]")

        return EventStream(chunks(), on_close=generation.cancel.set)

    @router.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest):
        body.check()
        info = state.models.lookup(body.model, "generator", "/v1/completions")
        generation = job(body, body.prompt, info.name, body.logprobs)
        return await answer(body, generation, CompletionShape(info.name))

    @router.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatRequest):
        body.check()
        info = state.models.lookup(body.model, "generator", "/v1/chat/completions")
        messages = [message.as_dict() for message in body.messages]
        top = (body.top_logprobs or 0) if body.logprobs else None
        generation = job(body, messages, info.name, top)
        return await answer(body, generation, ChatShape(info.name))

    return router


async def raise_(error: object) -> None:
    """An awaitable that raises `error` (so `call_engine` maps it like any engine error)."""
    raise error  # type: ignore[misc]
