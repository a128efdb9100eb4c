"""Routes. Each handler validates, calls one pipeline, and shapes the answer.

OpenAI-compatible: GET /v1/models, POST /v1/embeddings, /v1/completions and
/v1/chat/completions (with `stream: true` as server-sent events). plmkit's own verbs live
under /v1/tokenize, /v1/fill-mask, /v1/mask-demo and /v1/classify; GET / is a small browser
page. PlmError becomes HTTP 400 with the message and the fix.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from plmkit.config import GenerateConfig
from plmkit.errors import PlmError
from plmkit.serve.schemas import (
    ChatRequest,
    ClassifyRequest,
    CompletionRequest,
    EmbeddingsRequest,
    FillMaskRequest,
    TextRequest,
)

PAGE = Path(__file__).with_name("page.html")


def _config(body: CompletionRequest | ChatRequest) -> GenerateConfig:
    sampling = bool(body.temperature)
    return GenerateConfig(
        max_new_tokens=body.max_tokens,
        strategy="sample" if sampling else "greedy",
        temperature=body.temperature if sampling else 1.0,
        top_p=body.top_p,
        top_k=body.top_k,
        seed=body.seed,
        stop=body.stops(),
    )


def _usage(result) -> dict:
    total = result.prompt_tokens + result.new_tokens
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.new_tokens,
        "total_tokens": total,
    }


def _stream(prompt, body, chunk, backend: str) -> Iterator[str]:
    """Run generation in a thread; yield SSE lines as text arrives, then [DONE]."""
    from plmkit.pipelines.generate import generate

    pieces: queue.Queue = queue.Queue()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["result"] = generate(
                prompt, body.model, _config(body), on_text=pieces.put, backend=backend
            )
        except PlmError as error:
            outcome["error"] = error
        finally:
            pieces.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (piece := pieces.get()) is not None:
        yield f"data: {json.dumps(chunk(piece, None))}\n\n"
    if "error" in outcome:
        error = outcome["error"]
        yield f"data: {json.dumps({'error': {'message': error.message, 'fix': error.fix}})}\n\n"
    else:
        yield f"data: {json.dumps(chunk('', outcome['result'].finish_reason))}\n\n"
    yield "data: [DONE]\n\n"


def create_app(preload: list[str] | None = None, backend: str = "auto") -> FastAPI:
    """The app; models named in `preload` are loaded before the first request.

    `backend` is the engine for requests that do not name one (their `backend` field).
    """

    def engine(body) -> str:
        return body.backend or backend

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        from plmkit import backends, loading

        for name in preload or []:  # the engine requests will use, measured now if auto
            loading.cached("tokenizer", name)
            if loading.model_kind(loading.load_config(name)) == "decoder":
                backends.load_causal_lm_backend(name, backend)
            else:
                backends.load_encoder_backend(name, "embed", backend)
        yield

    app = FastAPI(title="plmkit", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(PlmError)
    async def plm_error(_: Request, error: PlmError) -> JSONResponse:
        return JSONResponse(
            status_code=400,
            content={"error": {"message": error.message, "fix": error.fix, "code": error.code}},
        )

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict:
        from plmkit.registry import EMBEDDED

        data = [
            {"id": a, "object": "model", "owned_by": "plmkit", "kind": s.kind}
            for a, s in EMBEDDED.items()
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingsRequest) -> dict:
        from plmkit.pipelines.encode import encode

        result = encode(
            body.input,
            body.model,
            pooling=body.pooling,
            normalize=body.normalize,
            backend=engine(body),
        )
        tokens = sum(shape[1] for shape in result.shapes)
        return {
            "object": "list",
            "model": body.model,
            "data": [
                {"object": "embedding", "index": i, "embedding": vector.tolist()}
                for i, vector in enumerate(result.embeddings)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.post("/v1/completions", response_model=None)
    def completions(body: CompletionRequest) -> dict | StreamingResponse:
        from plmkit.pipelines.generate import generate

        ident, created = f"cmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        def chunk(text: str, finish: str | None) -> dict:
            choice = {"index": 0, "text": text, "finish_reason": finish}
            return {
                "id": ident,
                "object": "text_completion",
                "created": created,
                "model": body.model,
                "choices": [choice],
            }

        if body.stream:
            return StreamingResponse(
                _stream(body.prompt, body, chunk, engine(body)), media_type="text/event-stream"
            )
        result = generate(body.prompt, body.model, _config(body), backend=engine(body))
        return {**chunk(result.text, result.finish_reason), "usage": _usage(result)}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatRequest) -> dict | StreamingResponse:
        from plmkit.pipelines.generate import generate

        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        messages = [m.model_dump() for m in body.messages]

        def chunk(text: str, finish: str | None) -> dict:
            choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.model,
                "choices": [choice],
            }

        if body.stream:
            stream = _stream(messages, body, chunk, engine(body))
            return StreamingResponse(stream, media_type="text/event-stream")
        result = generate(messages, body.model, _config(body), backend=engine(body))
        message = {"role": "assistant", "content": result.text}
        choice = {"index": 0, "message": message, "finish_reason": result.finish_reason}
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [choice],
            "usage": _usage(result),
        }

    @app.post("/v1/tokenize")
    def tokenize(body: TextRequest) -> dict:
        from plmkit.pipelines.tokenize import tokenize

        return tokenize(body.text, body.model).to_dict()

    @app.post("/v1/fill-mask")
    def fill_mask(body: FillMaskRequest) -> dict:
        from plmkit.pipelines.fill_mask import fill_mask

        results = fill_mask(body.text, body.model, body.top_k)
        return {"masks": [[c.__dict__ for c in candidates] for candidates in results]}

    @app.post("/v1/mask-demo")
    def mask_demo(body: TextRequest) -> dict:
        from plmkit.pipelines.mask_demo import mask_demo

        result = mask_demo(body.text, body.model)
        return {"tokens": [t.__dict__ for t in result.tokens], "measured": result.measured}

    @app.post("/v1/classify")
    def classify(body: ClassifyRequest) -> dict:
        from plmkit.pipelines.classify import classify

        texts = [body.input] if isinstance(body.input, str) else body.input
        predictions = classify(texts, body.model, backend=engine(body))
        return {"data": [p.to_dict() for p in predictions]}

    return app
