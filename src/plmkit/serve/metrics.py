"""Prometheus metrics (`prometheus-client`), one registry per app so that apps never share
counts: requests by route and status, latency histograms, requests running and queued,
batch sizes, tokens generated, rejected requests (401, 413, 429, 503 while loading, 504)
and streams stopped because their client left.

`RequestMetrics` is ASGI middleware, outermost, so that it sees every answer, those of the
other middleware included. A route is labelled by its template; a path no route has is
labelled `other`, so that random paths cannot grow the label set.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REJECTED = {401: "unauthorized", 413: "too_large", 429: "overloaded", 503: "unavailable"}
REJECTED[504] = "timeout"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "plmkit_requests", "HTTP requests answered", ["route", "status"], registry=registry
        )
        self.latency = Histogram(
            "plmkit_request_seconds",
            "Time to answer (to the last byte of a stream)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "plmkit_requests_running", "Requests holding a slot", registry=registry
        )
        self.queue_depth = Gauge(
            "plmkit_queue_depth", "Requests waiting for a slot", registry=registry
        )
        self.batch_size = Histogram(
            "plmkit_batch_size",
            "Texts per batched pipeline call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_requests = Histogram(
            "plmkit_batch_requests",
            "Requests merged into one pipeline call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.tokens_generated = Counter(
            "plmkit_tokens_generated", "New tokens generated", ["model"], registry=registry
        )
        self.rejected = Counter(
            "plmkit_rejected_requests", "Requests refused", ["reason"], registry=registry
        )
        self.cancelled = Counter(
            "plmkit_generations_cancelled",
            "Generations stopped early (client gone or timeout)",
            registry=registry,
        )

    def watch_slots(self, running: Callable[[], float], waiting: Callable[[], float]) -> None:
        self.running.set_function(running)
        self.queue_depth.set_function(waiting)

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP answer."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, routes: Callable[[], set]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope["path"] if scope["path"] in self.routes() else "other"
            self.metrics.requests.labels(route, str(status[0])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
            if status[0] in REJECTED:
                self.metrics.rejected.labels(REJECTED[status[0]]).inc()
