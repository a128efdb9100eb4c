"""`plm serve`: the HTTP API and the browser page (step 5)."""

from __future__ import annotations

from typing import Annotated

import typer

from plmkit.cli.base import SERVE, command


@command("serve", SERVE)
def serve_cmd(
    host: str = "127.0.0.1",
    port: int = 8000,
    preload: Annotated[
        list[str] | None, typer.Option(help="models to load before the first request")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="engine for requests that name none (auto or a backend name)")
    ] = "auto",
) -> None:
    """HTTP API (OpenAI-compatible /v1/embeddings, /v1/completions, /v1/chat/completions)
    and a browser page at /."""
    import uvicorn

    from plmkit.serve.app import create_app

    uvicorn.run(create_app(preload or [], backend), host=host, port=port, log_level="info")
