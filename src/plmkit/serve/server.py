"""`serve`: check the models, build the app and run it under uvicorn.

The models are described before the server binds (a pickle-only directory or the wrong
kind of model stops it there, with the fix); their weights load once it is listening.
Loopback is the default address; binding another one without an API key logs a warning,
since anyone who can reach the port can then use the models.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

from plmkit.serve.models import DEFAULT_MODELS, served_models
from plmkit.serve.settings import ServeSettings

log = logging.getLogger("plmkit.serve")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
KEY_VARIABLE = "PLMKIT_API_KEY"


def open_bind_warning(host: str, api_key: str | None) -> str | None:
    if host in LOOPBACK or api_key:
        return None
    return (
        f"warning: serving on {host} without an API key: anyone who can reach this port "
        f"can use the models; pass --api-key (or set {KEY_VARIABLE})"
    )


def serve(
    encoders: list[str] | None = None,
    generators: list[str] | None = None,
    classifiers: list[str] | None = None,
    preload: list[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
) -> None:
    """Serve these models (minilm and smollm2 when none is named) until Ctrl-C."""
    import uvicorn

    from plmkit.serve.app import create_app

    settings = settings or ServeSettings()
    if settings.api_key is None and os.environ.get(KEY_VARIABLE):
        settings = replace(settings, api_key=os.environ[KEY_VARIABLE])
    if not any((encoders, generators, classifiers, preload)):
        encoders, generators = DEFAULT_MODELS["encoder"], DEFAULT_MODELS["generator"]
    models = served_models(encoders, generators, classifiers, preload)
    warning = open_bind_warning(host, settings.api_key)
    if warning:
        log.warning(warning)
    log.info("serving %s on http://%s:%d", ", ".join(models.infos), host, port)
    uvicorn.run(create_app(models, settings), host=host, port=port, log_level="info")
