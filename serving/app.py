"""The FastAPI application: `create_app(settings)` wires settings, model, limits, metrics and routes.

Request path, outermost first:

    FastAPI's server-error handler
    MetricsMiddleware           times and counts every request; unexpected errors -> 500 shape
    DeclaredBodySizeMiddleware  413 for a Content-Length over TRIAGE_MAX_BODY_BYTES, before reading
    RequireApiKeyMiddleware     401 before the body is read (only with TRIAGE_API_KEYS)
    ConcurrencyLimitMiddleware  503 + Retry-After at once when too many requests are in progress
    TimeBudgetMiddleware        504 when a request overruns TRIAGE_REQUEST_TIMEOUT_S
    routes                      FastAPI's body limit (413, chunked bodies too), key and rate-limit
                                dependencies (401/429), then the model (503 until loaded)

The model is loaded once, in the lifespan (DESIGN.md rule 6), and reaches routes through the
`get_model` dependency; `uvicorn --factory serving.app:create_app_from_env` builds the app from
`TRIAGE_*` variables.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from contextlib import asynccontextmanager
from typing import AsyncIterator

import anyio
from fastapi import Depends, FastAPI

from serving import signals
from serving.errors import install_error_handlers
from serving.limits import (
    ConcurrencyLimitMiddleware,
    DeclaredBodySizeMiddleware,
    RateLimiter,
    TimeBudgetMiddleware,
    build_rate_limit_dependency,
)
from serving.metrics import Metrics, MetricsMiddleware, multiprocess_dir
from serving.routes import admin, health, inbox, model_info, page, score
from serving.security import ApiKeys, RequireApiKeyMiddleware, build_admin_dependency, build_client_dependency
from serving.settings import Settings, get_settings
from serving.state import LoadedModel, ModelHolder, ReloadError
from serving.store import Store, StoreUnavailable, redact_url

logger = logging.getLogger("serving.app")

API_DESCRIPTION = """
Triage customer-care tweets: intent, sentiment, urgency, DM suggestion, personal data and a
P1-P4 priority badge, in the output contract of tweet-triage's DESIGN.md.

Every error has one shape, `{"error": {"code", "message"}}`; 429, 503 and 504 carry `Retry-After`.
"""


class ModelLoadError(RuntimeError):
    """The model could not be loaded at start-up; the message is one line."""


def create_app(settings: Settings | None = None, *, holder: ModelHolder | None = None,
               handle_signals: bool = False) -> FastAPI:
    """Build the app. `holder` may carry a preloaded model (tests); otherwise the lifespan loads it.

    `handle_signals` installs SIGHUP/SIGTERM handlers when the lifespan runs in a main thread
    (what `serving.server` asks for; never under TestClient).
    """
    settings = settings or get_settings()
    holder = holder or ModelHolder(settings.model_dir, settings.policy_path)
    metrics = Metrics()
    keys = ApiKeys(settings)
    limiter = RateLimiter(settings.rate_limit, settings.redis_url)
    store = Store(settings.store_url)

    def record_swap(new: LoadedModel, old: LoadedModel | None) -> None:
        metrics.set_model(new.version, new.sha256, (old.version, old.sha256) if old else None)

    holder.on_swap.append(record_swap)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder.draining = False  # a (re)started server; set again when it stops
        if holder.current is None:
            try:
                await anyio.to_thread.run_sync(holder.reload)
            except ReloadError as error:
                logger.error("cannot start: %s", error)
                raise ModelLoadError(str(error)) from None
        else:
            record_swap(holder.current, None)
        # The inbox store: connect and run its migrations (upgrade head) beside the start-up, not
        # before it: scoring and readiness do not need the database. Inbox requests that come
        # first wait for it; a database that is down is logged and retried on the next request.
        threading.Thread(target=open_store_quietly, args=(store,), name="triage-store-open", daemon=True).start()
        restore = None
        if handle_signals and signals.can_install():
            restore = signals.install_signal_handlers(
                holder,
                asyncio.get_running_loop(),
                shutdown_delay_s=settings.shutdown_delay_s,
                on_reload=lambda ok: metrics.reloads.labels("success" if ok else "failure").inc(),
            )
        try:
            yield
        finally:
            holder.draining = True  # readiness 503 from here on
            if restore:
                restore()
            store.close()
            if multiprocess_dir():
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(os.getpid())

    app = FastAPI(
        title="tweet-triage",
        version="1",
        summary="Scoring API for customer-care tweets.",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.limiter = limiter
    app.state.store = store
    install_error_handlers(app)
    inbox.install(app, metrics.registry)

    client = build_client_dependency(keys)
    rate_limited = build_rate_limit_dependency(limiter, client)
    admin_only = build_admin_dependency(client)
    routers = [
        (health.build_router(settings), []),
        (score.build_router(settings), [Depends(rate_limited)]),
        (model_info.build_router(settings), [Depends(rate_limited)]),
        (admin.build_router(settings), [Depends(admin_only)]),
        (inbox.build_router(settings, rate_limited), [Depends(rate_limited)]),
        (page.build_router(), []),
    ]
    for router, dependencies in routers:
        # FastAPI's body limit (413 also for chunked bodies) on every route. Set per router, not on
        # the app: an app-level limit answers a too-large Content-Length in plain text, replacing
        # our error shape; DeclaredBodySizeMiddleware answers those first.
        app.include_router(router, dependencies=dependencies, max_body_size=settings.max_body_bytes)
    # Metric labels for requests refused before routing: our paths, or `other`.
    route_paths = [route.path for router, _ in routers for route in router.routes]
    route_paths += [path for path in (app.openapi_url, app.docs_url) if path]
    page.mount_static(app)

    # add_middleware puts each one outside the previous: listed innermost first.
    app.add_middleware(TimeBudgetMiddleware, seconds=settings.request_timeout_s)
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.max_concurrency, on_change=metrics.in_flight.set)
    app.add_middleware(RequireApiKeyMiddleware, keys=keys)
    app.add_middleware(DeclaredBodySizeMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, route_paths=route_paths)
    return app


def open_store_quietly(store: Store) -> None:
    """Open (and migrate) the inbox store; a failure is one warning line, retried on first use."""
    try:
        store.open()
    except StoreUnavailable as error:
        logger.warning("inbox store at %s: %s", redact_url(store.url), error)


def create_app_from_env() -> FastAPI:
    """The app as `triage serve` runs it (uvicorn factory): settings from `TRIAGE_*` variables."""
    return create_app(get_settings(), handle_signals=True)
