"""The app: middleware, the lifespan that loads the models, and the small routes.

    RequestMetrics -> BearerAuth -> RequestBody -> FastAPI routes

Metrics see every answer; a wrong key is refused before the body is read; a body over
the limit before it is parsed. The models warm up in a thread started by the lifespan, so
/health answers 503 while they load and 200 once they are ready. GET / is the browser page,
GET /v1/models lists the served models, GET /metrics is Prometheus text. The model routes
are in `encoders`, `generation` and `playground` (/v1/explain, /v1/attention).
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from plmkit.serve.auth import BearerAuth
from plmkit.serve.encoders import encoder_routes, run_batch
from plmkit.serve.errors import ApiError, install_error_handlers
from plmkit.serve.generation import generation_routes
from plmkit.serve.limits import RequestBody
from plmkit.serve.metrics import RequestMetrics
from plmkit.serve.models import ServedModels
from plmkit.serve.playground import playground_routes
from plmkit.serve.settings import ServeSettings
from plmkit.serve.state import ServerState

PAGE = Path(__file__).with_name("page.html")


def create_app(models: ServedModels, settings: ServeSettings | None = None) -> FastAPI:
    """The server for `models` (from `served_models`), with `settings`' engine and limits."""
    state = ServerState(settings or ServeSettings(), models)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        state.start(run_batch(state.settings.backend))
        models.state, models.failure = "loading", None
        loader = threading.Thread(
            target=models.load, args=(state.settings.backend,), name="plmkit-load", daemon=True
        )
        loader.start()
        try:
            yield
        finally:
            state.stop()
            loader.join()  # torch must not be mid-load when the interpreter exits

    app = FastAPI(title="plmkit", version="0.1.0", lifespan=lifespan)
    app.state.plmkit = state
    install_error_handlers(app)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/health", response_model=None)
    def health() -> dict | JSONResponse:
        try:
            models.require_ready()
        except ApiError as error:
            body = {"status": models.state, **error.body()}
            return JSONResponse(body, status_code=503, headers=error.headers)
        return {"status": "ok", "models": list(models.infos)}

    @app.get("/v1/models")
    def served() -> dict:
        return models.listing()

    @app.get("/metrics")
    def metrics() -> Response:
        return state.metrics.response()

    routes = {route.path for route in app.routes if hasattr(route, "path")}
    for router in (encoder_routes(state), generation_routes(state), playground_routes(state)):
        routes |= {route.path for route in router.routes}
        app.include_router(router)
    app.add_middleware(RequestBody, max_body=state.settings.max_body)
    app.add_middleware(
        BearerAuth, api_key=state.settings.api_key, metrics_key=state.settings.metrics_key
    )
    app.add_middleware(RequestMetrics, metrics=state.metrics, routes=lambda: routes)
    return app
