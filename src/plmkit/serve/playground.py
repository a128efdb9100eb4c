"""The playground's own routes: /v1/explain (integrated-gradients attribution of a
classifier's label) and /v1/attention (one layer / head's attention weights).

Both answer only for the models the server was started with, in the one error body
(`errors`), behind the API key like every /v1 route, and within a slot and the request
timeout (`limits.run_in_slot`). Both are bounded: one text a request, at most
`MAX_EXPLAIN_TOKENS` / `MAX_ATTENTION_TOKENS` tokens (422 naming the count and the limit
unless `truncate: true` cuts it) and at most `MAX_STEPS` integration steps (422). The work
itself is `pipelines.explain` / `pipelines.attention` on the fp32 torch model, whatever
engine `--backend` picked for the other routes: gradients and attention weights need it.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter
from pydantic import Field

from plmkit.pipelines.models import ModelInfo
from plmkit.serve.encoders import check_lengths
from plmkit.serve.errors import ApiError
from plmkit.serve.limits import run_in_slot
from plmkit.serve.schemas import Model, Request, Text
from plmkit.serve.state import ServerState, call_engine

MAX_STEPS = 128
"""Integration steps a request may ask for (each is a forward and a backward pass)."""
MAX_EXPLAIN_TOKENS = 128
MAX_ATTENTION_TOKENS = 128
"""A (T, T) grid of 128 x 128 is 16k weights: about 200 KB of JSON."""


class ExplainRequest(Request):
    model: str | None = Model
    input: Text
    label: str | None = Field(default=None, description="the label to explain (default: predicted)")
    steps: int = Field(default=32, ge=1, le=MAX_STEPS, description="integration steps")
    truncate: bool = Field(default=False, description=f"cut the input at {MAX_EXPLAIN_TOKENS}")


class AttentionRequest(Request):
    model: str | None = Model
    input: Text
    layer: int = Field(default=0, ge=0, description="0-based")
    head: int | None = Field(default=None, ge=0, description="none: the mean over heads")
    truncate: bool = Field(default=False, description=f"cut the input at {MAX_ATTENTION_TOKENS}")


def playground_routes(state: ServerState) -> APIRouter:
    router = APIRouter()
    models, settings = state.models, state.settings

    async def one_call(work):
        timeout = settings.request_timeout
        return await call_engine(run_in_slot(state.slots, state.executor, timeout, work))

    async def check_length(info: ModelInfo, text: str, limit: int, truncate: bool) -> None:
        bounded = replace(info, input_limit=min(info.input_limit or limit, limit))
        await check_lengths(bounded, [text], truncate)

    @router.post("/v1/explain")
    async def explain(body: ExplainRequest) -> dict:
        from plmkit.pipelines.explain import explain

        body.unsupported({})
        info = models.lookup(body.model, "classifier", "/v1/explain")
        if body.label is not None and body.label not in info.labels:
            raise ApiError(
                422,
                f"'{body.label}' is not a label of '{info.name}' ({', '.join(info.labels)})",
                param="label",
                code="unknown_label",
                fix="name one of the model's labels (GET /v1/models), or leave label out",
            )
        await check_length(info, body.input, MAX_EXPLAIN_TOKENS, body.truncate)
        found = await one_call(
            lambda: explain(
                body.input,
                info.name,
                label=body.label,
                steps=body.steps,
                max_tokens=MAX_EXPLAIN_TOKENS,
            )
        )
        return {"object": "explanation", "model": info.name, **found.to_dict()}

    @router.post("/v1/attention")
    async def attention(body: AttentionRequest) -> dict:
        from plmkit.pipelines.attention import attention

        body.unsupported({})
        info = models.lookup_any(body.model)
        await check_length(info, body.input, MAX_ATTENTION_TOKENS, body.truncate)
        found = await one_call(
            lambda: attention(
                body.input,
                info.name,
                layer=body.layer,
                head=body.head,
                max_tokens=MAX_ATTENTION_TOKENS,
            )
        )
        return {"object": "attention", "model": info.name, **found.to_dict()}

    return router
