"""The served-model table: only the models the server was started with, by id.

`served_models` describes each model at start-up (config.json and tokenizer only; pickle-only
weights, a missing directory or the wrong kind of model stop the server there, with the
fix). `ServedModels.load` then warms every model up through its pipeline, in a thread,
while /health answers 503; `lookup` answers a request's `model`: a served model of the
kind the route needs, the first one of that kind when the request names none, 404 for any
other name (a filesystem path included: nothing is loaded at request time), 503 while
loading.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from plmkit.errors import InvalidInputError, PlmError
from plmkit.pipelines.models import ModelInfo, ServedKind, describe_model, engine_name, warm_up
from plmkit.serve.errors import ApiError, from_plm

log = logging.getLogger("plmkit.serve")
DEFAULT_MODELS: dict[ServedKind, list[str]] = {"encoder": ["minilm"], "generator": ["smollm2"]}
"""What `plm serve` serves when it is given no model."""


@dataclass
class ServedModels:
    infos: dict[str, ModelInfo]
    state: str = "loading"
    """loading, ready or failed."""
    failure: ApiError | None = None
    engines: dict[str, str] = field(default_factory=dict)
    """Each loaded model's engine (`auto`'s choice), by id."""

    def load(self, backend: str) -> None:
        """Warm every model up (in the caller's thread); the state says how it went."""
        try:
            for info in self.infos.values():
                log.info("loading %s %s on %s", info.kind, info.name, backend)
                warm_up(info, backend)
                self.engines[info.name] = engine_name(info, backend)
        except PlmError as error:
            self.failure, self.state = from_plm(error), "failed"
        except Exception as error:  # noqa: BLE001 - any engine failure: report, keep answering
            self.failure, self.state = ApiError(503, f"loading failed: {error}"), "failed"
        else:
            self.state = "ready"
        if self.failure is not None:
            log.error("models failed to load: %s", self.failure.message)

    def require_ready(self) -> None:
        if self.state == "loading":
            raise ApiError(
                503,
                "the models are still loading",
                code="loading",
                fix="retry shortly; GET /health answers 200 once they are ready",
                headers={"Retry-After": "5"},
            )
        if self.failure is not None:
            failure = self.failure
            raise ApiError(503, failure.message, code=failure.code, fix=failure.fix)

    def lookup(self, name: str | None, kind: ServedKind, route: str) -> ModelInfo:
        self.require_ready()
        if name is None:
            for info in self.infos.values():
                if info.kind == kind:
                    return info
            raise ApiError(
                404,
                f"this server serves no {kind}, so {route} has no model",
                param="model",
                code="model_not_found",
                fix=f"start the server with --{kind} MODEL",
            )
        info = self.infos.get(name)
        if info is None:
            served = ", ".join(self.infos) or "none"
            raise ApiError(
                404,
                f"the model '{name}' is not served here (served: {served})",
                param="model",
                code="model_not_found",
                fix="use an id from GET /v1/models",
            )
        if info.kind != kind:
            raise ApiError(
                400,
                f"'{name}' is a {info.kind}, but {route} needs a {kind}",
                param="model",
                code="wrong_model_kind",
                fix=f"name a {kind} from GET /v1/models",
            )
        return info

    def lookup_any(self, name: str | None) -> ModelInfo:
        """A served model of any kind (tokenize works on all of them)."""
        self.require_ready()
        if name is None and self.infos:
            return next(iter(self.infos.values()))
        kind = self.infos[name].kind if name in self.infos else "encoder"
        return self.lookup(name, kind, "/v1/tokenize")

    def listing(self) -> dict:
        data = []
        for info in self.infos.values():
            entry = {"id": info.name, "object": "model", "owned_by": "plmkit", "kind": info.kind}
            if info.kind == "classifier":
                entry["labels"] = list(info.labels)
            if info.input_limit is not None:
                entry["max_input_tokens"] = info.input_limit
            if info.name in self.engines:
                entry["backend"] = self.engines[info.name]
            data.append(entry)
        return {"object": "list", "data": data}


def served_models(
    encoders: list[str] | None = None,
    generators: list[str] | None = None,
    classifiers: list[str] | None = None,
    preload: list[str] | None = None,
) -> ServedModels:
    """The table for these models, each checked now; `preload` models' kinds are inferred."""
    wanted: list[tuple[str, ServedKind | None]] = [
        *((name, "encoder") for name in encoders or []),
        *((name, "generator") for name in generators or []),
        *((name, "classifier") for name in classifiers or []),
        *((name, None) for name in preload or []),
    ]
    infos: dict[str, ModelInfo] = {}
    for name, kind in wanted:
        if name in infos:
            raise InvalidInputError(
                f"the model '{name}' is named twice", "serve each model once, as one kind"
            )
        infos[name] = describe_model(name, kind)
    return ServedModels(infos)
