"""Bounds on what one client can ask of the server.

`RequestBody` (ASGI middleware) refuses a body over `max_body` bytes with 413 before it is
parsed: at once from Content-Length, or as soon as the streamed bytes pass the limit. It
also refuses a JSON body that is not UTF-8 (400, naming the byte), which FastAPI would
answer vaguely. `Slots` admits `limit` requests at once and queues `queue` more; beyond
that a request gets a fast 429 with Retry-After. `run_in_slot` runs engine work in a
thread within a slot and a deadline (504 when it passes); a slot is freed when the engine
work really ends, so the count never hides work still running.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plmkit.serve.errors import ApiError

T = TypeVar("T")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is over the server's limit of {limit:,} bytes",
        code="body_too_large",
        fix="send fewer or shorter inputs per request (the server's --max-body)",
    )


class RequestBody:
    """ASGI middleware: the body read whole, bounded, and checked to be UTF-8 JSON."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_body:
            await body_too_large(self.max_body).response()(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await body_too_large(self.max_body).response()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b""):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as error:
                bad = ApiError(
                    400,
                    f"the body is not valid UTF-8 (byte 0x{body[error.start]:02x} at "
                    f"position {error.start})",
                    code="invalid_utf8",
                    fix="encode the JSON body as UTF-8",
                )
                await bad.response()(scope, receive, send)
                return
        await self.app(scope, replay(body, receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body read already, then the client's messages
    (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


class Slots:
    """`limit` requests worked on at once, `queue` more waiting; the rest are refused."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit, self.queue = limit, queue
        self.running = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(limit)
        self._loop = asyncio.get_running_loop()

    async def acquire(self) -> None:
        if self.running >= self.limit and self.waiting >= self.queue:
            raise ApiError(
                429,
                f"the server is at capacity ({self.limit} requests running, "
                f"{self.waiting} waiting)",
                code="overloaded",
                fix="retry after the number of seconds in Retry-After",
                headers={"Retry-After": "1"},
            )
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        self._free.release()

    def release_from_thread(self) -> None:
        self._loop.call_soon_threadsafe(self.release)


async def run_in_slot(
    slots: Slots,
    executor: Executor,
    timeout: float,
    work: Callable[[], T],
    cancel: threading.Event | None = None,
) -> T:
    """`work()` in a worker thread, within a slot and a deadline (`bounded`)."""
    loop = asyncio.get_running_loop()
    return await bounded(slots, timeout, lambda: loop.run_in_executor(executor, work), cancel)


async def bounded(
    slots: Slots,
    timeout: float,
    start: Callable[[], Awaitable[T]],
    cancel: threading.Event | None = None,
) -> T:
    """Await what `start()` begins, within a slot; 504 after `timeout` seconds (then
    `cancel` is set, so work that checks it stops). The slot is freed when the work really
    ends, after a 504 or a client that left too."""
    await slots.acquire()
    try:
        work = asyncio.ensure_future(start())
    except BaseException:
        slots.release()
        raise
    work.add_done_callback(lambda done: finished(done, slots))
    try:
        return await asyncio.wait_for(asyncio.shield(work), timeout)
    except asyncio.TimeoutError:
        if cancel is not None:
            cancel.set()
        raise timed_out(timeout) from None
    except asyncio.CancelledError:  # the client went away
        if cancel is not None:
            cancel.set()
        raise


def finished(future: asyncio.Future, slots: Slots) -> None:
    """Free the slot; a failure nobody awaits any more (after a 504) is retrieved here, so
    asyncio does not log it as lost."""
    slots.release()
    if not future.cancelled():
        future.exception()


def timed_out(timeout: float) -> ApiError:
    return ApiError(
        504,
        f"the request took longer than the server's limit of {timeout:g} s",
        code="timeout",
        fix="ask for less (fewer inputs, fewer max_tokens), or raise --request-timeout",
    )
