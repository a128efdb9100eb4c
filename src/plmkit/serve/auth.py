"""API keys: `Authorization: Bearer <key>` on every route but /health, the page and /metrics.

/health is for load balancers and never needs a key. The page at / is static HTML that
asks for the key in the browser and sends it with each call (a browser cannot attach a
header to a page it navigates to), so it is open too; everything it shows comes from the
API. /metrics is open unless a metrics key is set, and then needs that key. Keys are
compared with `hmac.compare_digest` (constant time, case-sensitive); the scheme `Bearer`
is case-insensitive, as HTTP says.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from plmkit.serve.errors import ApiError

OPEN_PATHS = frozenset({"/health", "/"})


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def key_matches(given: str | None, key: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


class BearerAuth:
    """ASGI middleware: 401 without the right key, before the body is read."""

    def __init__(self, app: ASGIApp, api_key: str | None, metrics_key: str | None) -> None:
        self.app, self.api_key, self.metrics_key = app, api_key, metrics_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self.required_key(scope)
        if key is not None and not key_matches(bearer_token(scope), key):
            which = "--metrics-key" if scope["path"] == "/metrics" else "the API key"
            error = ApiError(
                401,
                "missing or wrong API key",
                code="invalid_api_key",
                fix=f"send the header 'Authorization: Bearer <key>' with {which}",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def required_key(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return None
        if scope["path"] == "/metrics":
            return self.metrics_key
        return self.api_key
