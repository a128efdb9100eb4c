"""`plm serve`: the HTTP API and the browser page (step 5)."""

from __future__ import annotations

from typing import Annotated

import typer

from plmkit.cli.base import SERVE, command


@command("serve", SERVE)
def serve_cmd(
    encoder: Annotated[
        list[str] | None, typer.Option(help="an encoder to serve (embeddings); repeatable")
    ] = None,
    generator: Annotated[
        list[str] | None, typer.Option(help="a decoder to serve (completions, chat); repeatable")
    ] = None,
    classifier: Annotated[
        list[str] | None, typer.Option(help="a fine-tuned classifier to serve; repeatable")
    ] = None,
    preload: Annotated[
        list[str] | None, typer.Option(help="a model to serve, its kind read from its config")
    ] = None,
    host: Annotated[str, typer.Option(help="address to bind (loopback by default)")] = "127.0.0.1",
    port: int = 8000,
    backend: Annotated[str, typer.Option(help="engine for every model (auto or a name)")] = "auto",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PLMKIT_API_KEY", help="require 'Authorization: Bearer KEY'"),
    ] = None,
    metrics_key: Annotated[
        str | None, typer.Option(help="require this key on /metrics (open otherwise)")
    ] = None,
    max_body: Annotated[int, typer.Option(help="bytes per request body (413 above)")] = 2 << 20,
    max_batch: Annotated[int, typer.Option(help="inputs per request (422 above)")] = 32,
    max_concurrency: Annotated[int, typer.Option(help="requests worked on at once")] = 8,
    max_queue: Annotated[int, typer.Option(help="requests waiting (429 above)")] = 32,
    request_timeout: Annotated[float, typer.Option(help="seconds per request (504)")] = 120.0,
    batch_window_ms: Annotated[
        float, typer.Option(help="ms an idle model's embeddings / classify batch waits for more")
    ] = 0.0,
    generation_window_ms: Annotated[
        float, typer.Option(help="ms an idle generator waits for more requests (0: none)")
    ] = 20.0,
) -> None:
    """HTTP API (OpenAI-compatible /v1/embeddings, /v1/completions, /v1/chat/completions,
    plmkit's /v1/classify, /v1/tokenize, /v1/fill-mask), /health, /metrics and a page at /.
    Serves only the models named (minilm and smollm2 when none is)."""
    from plmkit.serve import ServeSettings, serve

    settings = ServeSettings(
        backend=backend,
        api_key=api_key,
        metrics_key=metrics_key,
        max_body=max_body,
        max_batch=max_batch,
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        request_timeout=request_timeout,
        batch_window_ms=batch_window_ms,
        generation_window_ms=generation_window_ms,
    )
    serve(encoder, generator, classifier, preload, host=host, port=port, settings=settings)
