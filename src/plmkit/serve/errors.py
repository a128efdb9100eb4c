"""One error body for every failure, in OpenAI's shape plus plmkit's fix:
`{"error": {"message", "type", "param", "code", "fix"}}`.

`ApiError` is what routes and middleware raise; the handlers installed by
`install_error_handlers` turn FastAPI's validation errors (422; invalid JSON is 400),
Starlette's 404 / 405 and plmkit's own `PlmError` (4xx by kind) into it. An engine failing
on a request is a 503 (`engine_failure`): the request is lost, the server keeps serving.
A full disk is a 507 (`storage_full`), wherever it happens. A bug in the server itself is a
500 with the same body; the traceback goes to the log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from plmkit.errors import (
    BackendUnavailableError,
    ModelNotCachedError,
    ModelPathError,
    PlmError,
    UnknownModelError,
    disk_full,
)

log = logging.getLogger("plmkit.serve")

STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
    504: "timeout_error",
    507: "server_error",
}


class ApiError(Exception):
    """An HTTP error with the body every route answers with."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        fix: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.code, self.fix, self.headers = code, fix, headers or {}

    def body(self) -> dict:
        kind = STATUS_TYPES.get(self.status, "invalid_request_error")
        fields = {"message": self.message, "type": kind, "param": self.param}
        return {"error": {**fields, "code": self.code, "fix": self.fix}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def plm_status(error: PlmError) -> int:
    """A model that cannot be found is 404; an engine that is not there is 503; the rest
    (bad input, wrong kind of model, unusable weights) are the client's to fix: 400."""
    if isinstance(error, (UnknownModelError, ModelNotCachedError, ModelPathError)):
        return 404
    if isinstance(error, BackendUnavailableError):
        return 503
    return 400


def from_plm(error: PlmError, param: str | None = None) -> ApiError:
    return ApiError(plm_status(error), error.message, param=param, code=error.code, fix=error.fix)


def engine_failure(error: BaseException) -> ApiError:
    log.error("engine failure: %s: %s", type(error).__name__, error, exc_info=error)
    if disk_full(error) is not None:
        return storage_full()
    return ApiError(
        503,
        f"the model failed on this request ({type(error).__name__}: {error})",
        code="engine_error",
        fix="retry; if it keeps failing, shorten the input or report it with the server log",
        headers={"Retry-After": "1"},
    )


def storage_full() -> ApiError:
    """507 Insufficient Storage: the server's disk filled up while serving (a model converted
    or exported on first use, a cache written). Not the client's to fix, and a retry only
    helps once the operator has made room."""
    return ApiError(
        507,
        "the server's disk is full (no space left on the device)",
        code="insufficient_storage",
        fix="the server's operator must free disk space (or set PLMKIT_CACHE to a disk with "
        "room and restart); then send the request again",
    )


def is_field(part: object) -> bool:
    """A field name or list index in pydantic's error location, not the 'body' root or the
    name of a union member it tried (`constrained-str`, `list[str]`)."""
    if isinstance(part, int):
        return True
    text = str(part)
    return text != "body" and text.isidentifier() and text not in UNION_MEMBERS


UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "list", "dict"})


def validation_error(error: RequestValidationError) -> ApiError:
    """The problem pydantic found, naming the field (`messages.0.content`); of a union's
    alternatives, the one that got furthest into the value (`input.1`, not `input`)."""
    problem = max(error.errors(), key=lambda found: len(found.get("loc", ())))
    location = [str(part) for part in problem.get("loc", ()) if is_field(part)]
    if problem.get("type") == "json_invalid":
        reason = (problem.get("ctx") or {}).get("error", "JSON decode error")
        at = f" at character {location[0]}" if location else ""
        return ApiError(
            400,
            f"the body is not valid JSON: {reason}{at}",
            code="invalid_json",
            fix="send one JSON object with Content-Type: application/json",
        )
    param = ".".join(location) or None
    if param is None:
        return ApiError(
            422,
            f"the body must be a JSON object ({problem.get('msg', 'wrong type')})",
            code="invalid_body",
            fix="send one JSON object with Content-Type: application/json",
        )
    return ApiError(
        422,
        f"{param}: {problem.get('msg', 'invalid value')}",
        param=param,
        code=problem.get("type", "invalid_value"),
        fix=f"correct '{param}' and send the request again",
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(PlmError)
    async def plm_error(_: Request, error: PlmError) -> JSONResponse:
        return from_plm(error).response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return validation_error(error).response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            message, fix = f"no route {request.url.path}", "see GET /v1/models and the README"
        elif error.status_code == 405:
            message, fix = f"{request.method} is not allowed on {request.url.path}", ""
        else:
            message, fix = str(error.detail), ""
        return ApiError(error.status_code, message, code=str(error.status_code), fix=fix).response()

    @app.exception_handler(Exception)
    async def bug(_: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=error)
        if disk_full(error) is not None:
            return storage_full().response()
        return ApiError(
            500,
            f"internal error ({type(error).__name__})",
            code="internal_error",
            fix="report it with the server log",
        ).response()
