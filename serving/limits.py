"""Admission control: a concurrency cap (503 at once), a per-key rate limit (429) and a time budget (504).

All three answer in the one error shape with `Retry-After`, so a client knows to retry rather than
to fix its request. Health and metrics paths are exempt from the cap and the budget: a probe must
never be refused because the service is busy scoring.

- `ConcurrencyLimitMiddleware` counts requests in progress (per worker process) and refuses the
  one over the cap immediately instead of queueing it (uvicorn's --limit-concurrency only answers
  once the worker is free to read the request).
- `RateLimiter` is a moving window from the `limits` library, in memory or, with
  TRIAGE_REDIS_URL, in Redis so that every worker and replica shares the counts.
- `TimeBudgetMiddleware` answers 504 when a request has not started its response within the
  budget. Scoring runs in a worker thread, which Python cannot interrupt, so the route passes the
  deadline to `LoadedModel.score`, which gives up between chunks of a batch (state.py).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import ApiError, error_response

logger = logging.getLogger("serving.limits")

EXEMPT_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
DEADLINE_SCOPE_KEY = "triage.deadline"


# --- concurrency cap -------------------------------------------------------------------------


class ConcurrencyLimitMiddleware:
    """At most `limit` requests in progress (exempt paths aside); the next gets 503 + Retry-After."""

    def __init__(self, app: ASGIApp, limit: int, on_change: Callable[[int], None] | None = None,
                 exempt: frozenset[str] = EXEMPT_PATHS):
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.in_flight = 0
        self._on_change = on_change or (lambda value: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            response = error_response(
                503, "overloaded", "too many requests in progress; retry shortly", scope=scope
            )
            await response(scope, receive, send)
            return
        # One event loop per process: no lock is needed between the check and the increment.
        self.in_flight += 1
        self._on_change(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._on_change(self.in_flight)


# --- body size -------------------------------------------------------------------------------


class DeclaredBodySizeMiddleware:
    """413 at once for a declared Content-Length over the limit, before any body byte is read.

    Bodies without a Content-Length (chunked) are counted as they are read by FastAPI's own
    `max_body_size`, whose 413 goes through our handlers too.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit():
                        response = error_response(400, "bad_request", "the Content-Length header is not a number",
                                                  scope=scope)
                        await response(scope, receive, send)
                        return
                    if int(value) > self.max_bytes:
                        response = error_response(
                            413, "payload_too_large", f"the request body is larger than {self.max_bytes} bytes",
                            scope=scope,
                        )
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


# --- time budget -----------------------------------------------------------------------------


def budget_exceeded() -> ApiError:
    return ApiError(504, "timeout", "the request did not finish within its time budget")


class TimeBudgetMiddleware:
    """504 for a request that has not started its response within `seconds`.

    The work itself cannot be killed (it runs in a thread); it finishes or notices the deadline,
    and whatever it would have sent is dropped. The request stays counted as in progress until
    then, so the concurrency cap keeps protecting the CPU.
    """

    def __init__(self, app: ASGIApp, seconds: float, exempt: frozenset[str] = EXEMPT_PATHS,
                 exempt_prefixes: tuple[str, ...] = ("/v1/admin/",)):
        self.app = app
        self.seconds = seconds
        self.exempt = exempt
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] in self.exempt
                or scope["path"].startswith(self.exempt_prefixes)):
            await self.app(scope, receive, send)
            return
        scope[DEADLINE_SCOPE_KEY] = time.monotonic() + self.seconds
        started = False
        timed_out = False
        finished = anyio.Event()
        failure: list[BaseException] = []

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the client already has its 504
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def run() -> None:
            try:
                await self.app(scope, receive, guarded_send)
            except Exception as error:  # re-raised below, outside the task group
                failure.append(error)
            finally:
                finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            with anyio.move_on_after(self.seconds):
                await finished.wait()
            if not finished.is_set() and not started:
                timed_out = True
                exceeded = budget_exceeded()
                response = error_response(exceeded.status, exceeded.code, exceeded.message, scope=scope)
                await response(scope, receive, send)
                group.cancel_scope.cancel()
        if failure and not timed_out:
            raise failure[0]


# --- rate limit ------------------------------------------------------------------------------


class RateLimiter:
    """Per-client moving-window limits, e.g. "1200/minute"; `None` disables it."""

    def __init__(self, spec: str | None, redis_url: str | None = None):
        self.spec = spec
        self._items = []
        self._strategy = None
        self._last_storage_warning = 0.0
        if spec is None:
            return
        from limits import parse_many
        from limits.aio.strategies import MovingWindowRateLimiter
        from limits.storage import storage_from_string

        self._items = parse_many(spec)
        if redis_url:
            # redis-py's asyncio client (the `redis` package), not the default coredis.
            # Short timeouts: an unreachable Redis must not hold requests (the check fails open).
            storage = storage_from_string(
                "async+" + redis_url, implementation="redispy", socket_connect_timeout=0.25, socket_timeout=0.25
            )
        else:
            storage = storage_from_string("async+memory://")
        self._strategy = MovingWindowRateLimiter(storage)

    @property
    def enabled(self) -> bool:
        return self._strategy is not None

    async def check(self, client_id: str) -> int | None:
        """None when the request may go on; else the seconds to wait before retrying."""
        if self._strategy is None:
            return None
        try:
            for item in self._items:
                if not await self._strategy.hit(item, "triage", client_id):
                    stats = await self._strategy.get_window_stats(item, "triage", client_id)
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as error:  # the store is down: serve rather than refuse everyone
            now = time.monotonic()
            if now - self._last_storage_warning > 60:
                self._last_storage_warning = now
                logger.warning("rate-limit store unavailable (%s): requests are not limited", type(error).__name__)
        return None


def build_rate_limit_dependency(limiter: RateLimiter, client_dependency):
    """The dependency that spends one request of the client's quota, or answers 429."""
    from fastapi import Depends

    from serving.security import Client

    # A default, not Annotated: the annotations of this module are strings, and FastAPI could not
    # resolve `client_dependency` (a local) from one.
    async def enforce_rate_limit(client: Client = Depends(client_dependency)) -> Client:  # noqa: B008
        retry_after = await limiter.check(client.id)
        if retry_after is not None:
            raise ApiError(429, "rate_limited", "rate limit exceeded for this key; retry later",
                           {"Retry-After": str(retry_after)})
        return client

    return enforce_rate_limit
