"""Routes for encoders and classifiers: /v1/embeddings (OpenAI's), /v1/classify,
/v1/tokenize, /v1/fill-mask and /v1/mask-demo (plmkit's).

An embeddings or classify request is checked whole before it waits for anything: no more
than `--max-batch` inputs (422), and no input longer than the model takes (422 naming its
token count and the limit) unless it asks for `truncate: true`. Its texts then join a
dynamic batch (`batching`); `run_batch` is the one pipeline call a batch makes.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Hashable

import numpy as np
from fastapi import APIRouter

from plmkit.pipelines.models import ModelInfo, token_counts
from plmkit.serve.errors import ApiError
from plmkit.serve.limits import bounded, run_in_slot
from plmkit.serve.schemas import (
    ClassifyRequest,
    EmbeddingsRequest,
    FillMaskRequest,
    TextRequest,
)
from plmkit.serve.state import ServerState, call_engine


def run_batch(backend: str):
    """The pipeline call for one batch: key = (model, task, pooling, normalize)."""

    def run(key: Hashable, texts: list[str]) -> list:
        model, task, pooling, normalize = key
        if task == "classify":
            from plmkit.pipelines.classify import classify

            return [p.to_dict() for p in classify(texts, model, backend=backend)]
        from plmkit.pipelines.encode import encode

        result = encode(texts, model, pooling=pooling, normalize=normalize, backend=backend)
        return [
            (vector, shape[1])
            for vector, shape in zip(result.embeddings, result.shapes, strict=True)
        ]

    return run


def check_inputs(state: ServerState, texts: list[str]) -> None:
    if len(texts) > state.settings.max_batch:
        raise ApiError(
            422,
            f"{len(texts)} inputs in one request; this server takes at most "
            f"{state.settings.max_batch}",
            param="input",
            code="too_many_inputs",
            fix="split the inputs over several requests (the server's --max-batch)",
        )


async def check_lengths(info: ModelInfo, texts: list[str], truncate: bool) -> int:
    """The tokens the pipeline will run (each input cut at the limit when `truncate`);
    422 for an input over the limit otherwise."""
    counts = await asyncio.to_thread(token_counts, texts, info.name)
    limit = info.input_limit or max(counts)
    for index, count in enumerate(counts):
        if count > limit and not truncate:
            raise ApiError(
                422,
                f"input {index} is {count:,} tokens; '{info.name}' takes at most {limit:,}",
                param=f"input.{index}" if len(texts) > 1 else "input",
                code="input_too_long",
                fix="shorten it, or send truncate: true to cut it at the limit",
            )
    return sum(min(count, limit) for count in counts)


async def batched(state: ServerState, key: tuple, texts: list[str], tokens: int) -> list:
    submit = state.batcher.submit
    work = bounded(state.slots, state.settings.request_timeout, lambda: submit(key, texts, tokens))
    return await call_engine(work)


def encoder_routes(state: ServerState) -> APIRouter:
    router = APIRouter()
    models, settings = state.models, state.settings

    @router.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsRequest) -> dict:
        body.unsupported({})
        info = models.lookup(body.model, "encoder", "/v1/embeddings")
        if body.dimensions is not None and body.dimensions != info.hidden_size:
            raise ApiError(
                400,
                f"dimensions {body.dimensions} is not supported: '{info.name}' gives "
                f"{info.hidden_size}-dimensional embeddings and they are not shortened",
                param="dimensions",
                code="unsupported_parameter",
                fix=f"leave dimensions out (or pass {info.hidden_size})",
            )
        texts = [body.input] if isinstance(body.input, str) else body.input
        check_inputs(state, texts)
        tokens = await check_lengths(info, texts, body.truncate)
        key = (info.name, "embed", body.pooling, body.normalize)
        rows = await batched(state, key, texts, tokens)
        data = [
            {"object": "embedding", "index": i, "embedding": encoded(vector, body.encoding_format)}
            for i, (vector, _) in enumerate(rows)
        ]
        used = sum(length for _, length in rows)
        usage = {"prompt_tokens": used, "total_tokens": used}
        return {"object": "list", "model": info.name, "data": data, "usage": usage}

    @router.post("/v1/classify")
    async def classify(body: ClassifyRequest) -> dict:
        body.unsupported({})
        info = models.lookup(body.model, "classifier", "/v1/classify")
        texts = [body.input] if isinstance(body.input, str) else body.input
        check_inputs(state, texts)
        tokens = await check_lengths(info, texts, body.truncate)
        rows = await batched(state, (info.name, "classify", None, None), texts, tokens)
        return {"object": "list", "model": info.name, "data": rows}

    async def one_call(work):
        timeout = settings.request_timeout
        return await call_engine(run_in_slot(state.slots, state.executor, timeout, work))

    @router.post("/v1/tokenize")
    async def tokenize(body: TextRequest) -> dict:
        from plmkit.pipelines.tokenize import tokenize

        body.unsupported({})
        info = models.lookup_any(body.model)
        return (await one_call(lambda: tokenize(body.text, info.name))).to_dict()

    @router.post("/v1/fill-mask")
    async def fill_mask(body: FillMaskRequest) -> dict:
        from plmkit.pipelines.fill_mask import fill_mask

        body.unsupported({})
        info = models.lookup(body.model, "encoder", "/v1/fill-mask")
        if not info.fill_mask:
            raise ApiError(
                400,
                f"'{info.name}' has no trained MLM head, so it cannot fill masks",
                param="model",
                code="wrong_model_kind",
                fix="serve an encoder saved with its masked-LM head (plm pretrain makes one)",
            )
        results = await one_call(lambda: fill_mask(body.text, info.name, body.top_k))
        return {"masks": [[c.__dict__ for c in candidates] for candidates in results]}

    @router.post("/v1/mask-demo")
    async def mask_demo(body: TextRequest) -> dict:
        from plmkit.pipelines.mask_demo import mask_demo

        body.unsupported({})
        info = models.lookup(body.model, "encoder", "/v1/mask-demo")
        result = await one_call(lambda: mask_demo(body.text, info.name))
        return {"tokens": [t.__dict__ for t in result.tokens], "measured": result.measured}

    return router


def encoded(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    """OpenAI's two encodings: a list of floats, or base64 of little-endian float32."""
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector.tolist()
