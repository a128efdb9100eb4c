"""The server's settings: its engine and every limit, in one frozen record.

`plm serve` fills it from its options; a library user passes one to `create_app`. The
defaults suit one CPU machine: a few requests worked on at once, a short queue behind them,
and bodies, batches and waits bounded so that no client can hold the server.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from plmkit.errors import InvalidInputError

MB = 1024 * 1024
MAY_BE_ZERO = frozenset({"max_queue", "batch_window_ms", "generation_window_ms"})
"""No queue: refuse at once when the slots are full; no window: every request its own batch."""


@dataclass(frozen=True)
class ServeSettings:
    backend: str = "auto"
    """The engine every model runs on (auto, or a backend name)."""
    api_key: str | None = None
    """Every route but /health, / and /metrics needs `Authorization: Bearer <key>`."""
    metrics_key: str | None = None
    """/metrics needs this key when set (it is open otherwise)."""
    max_body: int = 2 * MB
    """Bytes a request body may have; more is 413, refused before it is parsed."""
    max_batch: int = 32
    """Inputs one embeddings / classify request may carry; more is 422."""
    max_concurrency: int = 8
    """Requests worked on at once."""
    max_queue: int = 32
    """Requests waiting for a slot; beyond it, 429 with Retry-After."""
    request_timeout: float = 120.0
    """Seconds a request may take; then 504 (a stream ends with a timeout error event)."""
    batch_window_ms: float = 0.0
    """How long a batch of embeddings / classify requests waits on an idle model for more to
    join it (requests that arrive while a batch runs join the next one without it)."""
    batch_max_texts: int = 128
    """Texts in one batched pipeline call."""
    batch_max_tokens: int = 32768
    """Tokens in one batched pipeline call."""
    generation_window_ms: float = 20.0
    """How long an idle generator waits for more requests to decode with the first one
    (requests that arrive while a batch decodes join the next batch without waiting)."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                if item.name in MAY_BE_ZERO and value == 0:
                    continue
                flag = "--" + item.name.replace("_", "-")
                raise InvalidInputError(f"{flag} must be > 0, got {value}", f"pass {flag} above 0")
