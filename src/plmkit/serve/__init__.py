"""HTTP server: OpenAI-compatible embeddings / completions / chat, plus plmkit's own verbs.

It serves only the models it is started with, wraps the pipelines (never the loaders or
backends beneath them) and never imports the CLI.

    settings.py    ServeSettings: the engine and every limit
    models.py      the served-model table (`served_models`), loading, lookup by id
    app.py         `create_app`: middleware, lifespan, /, /health, /v1/models, /metrics
    encoders.py    /v1/embeddings, /v1/classify, /v1/tokenize, /v1/fill-mask, /v1/mask-demo
    generation.py  /v1/completions, /v1/chat/completions (streamed or whole)
    playground.py  /v1/explain, /v1/attention (what the page at / shows beside the rest)
    page.html      the page at /: the playground (plain HTML and JS, no build step)
    schemas.py     request bodies
    errors.py      the one error body, and the handlers that produce it
    auth.py        API keys
    limits.py      body size, concurrency slots and queue, timeouts
    batching.py    dynamic batching of embeddings / classify requests
    metrics.py     Prometheus metrics
    state.py       what the routes share
    server.py      `serve`: build the app and run it under uvicorn
"""

from plmkit.serve.app import create_app
from plmkit.serve.models import ServedModels, served_models
from plmkit.serve.server import serve
from plmkit.serve.settings import ServeSettings

__all__ = ["ServeSettings", "ServedModels", "create_app", "serve", "served_models"]
