"""Prometheus metrics, in base units, with bounded label values and nothing from the client in them.

Route labels are the app's route templates (or `other`), methods a fixed set, status codes
numbers, reasons a fixed set; tweet text, handles, ids and API keys never become label values.

With several workers (`triage serve --workers N`) set PROMETHEUS_MULTIPROC_DIR (the server does
it for you) and /metrics aggregates every worker through prometheus-client's multiprocess mode.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter as Tally
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import ERROR_CODE_SCOPE_KEY, error_response, log_unexpected

access_logger = logging.getLogger("serving.access")

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROBE_ROUTES = frozenset({"/livez", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# Error code -> rejection reason (a bounded set of label values).
REJECTION_REASONS = {
    "payload_too_large": "payload",
    "overloaded": "overload",
    "not_ready": "not_ready",
    "shutting_down": "not_ready",
    "rate_limited": "ratelimit",
    "timeout": "timeout",
    "unauthorized": "auth",
    "forbidden": "auth",
}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The service's metrics, in their own registry (one app, one registry: tests build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "triage_requests_total", "HTTP requests answered, by route, method and status.",
            ("route", "method", "status"), registry=r,
        )
        self.request_duration = Histogram(
            "triage_request_duration_seconds", "Time to answer HTTP requests, by route, method and status.",
            ("route", "method", "status"), buckets=LATENCY_BUCKETS, registry=r,
        )
        self.inference_duration = Histogram(
            "triage_inference_duration_seconds", "Time spent scoring one request's tweets with the model.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.scored_tweets = Counter("triage_scored_tweets_total", "Tweets scored.", registry=r)
        self.in_flight = Gauge(
            "triage_inflight_requests", "Requests in progress (health and metrics excluded).",
            registry=r, multiprocess_mode="livesum",
        )
        self.rejections = Counter(
            "triage_rejected_total",
            "Requests refused before scoring, by reason: payload, overload, not_ready, ratelimit, timeout, "
            "auth, invalid.",
            ("reason",), registry=r,
        )
        self.predictions = Counter(
            "triage_predictions_total", "Predictions by head and label (priority: rank; dm: suggest).",
            ("head", "label"), registry=r,
        )
        self.model_info = Gauge(
            "triage_model_info", "The model being served (value 1), by version and manifest sha256.",
            ("version", "sha256"), registry=r, multiprocess_mode="liveall",
        )
        self.reloads = Counter("triage_model_reloads_total", "Model reloads by result.", ("result",), registry=r)

    # -- recording ----------------------------------------------------------------------------
    def observe_predictions(self, results: Iterable[dict[str, Any]], seconds: float) -> None:
        """Count one request's predictions, aggregated first: one increment per distinct label."""
        tally: Tally[tuple[str, str]] = Tally()
        count = 0
        for result in results:
            count += 1
            tally["intent", result["intent"]["label"]] += 1
            tally["sentiment", result["sentiment"]["label"]] += 1
            tally["urgency", result["urgency"]["label"]] += 1
            tally["dm", "suggest" if result["dm"]["suggest"] else "no"] += 1
            tally["priority", result["priority"]["rank"]] += 1
        for (head, label), value in tally.items():
            self.predictions.labels(head, label).inc(value)
        self.scored_tweets.inc(count)
        self.inference_duration.observe(seconds)

    def set_model(self, version: str, sha256: str, previous: tuple[str, str] | None = None) -> None:
        if previous is not None and previous != (version, sha256):
            # Zero first: in multiprocess mode a removed series may linger in the worker's file.
            self.model_info.labels(*previous).set(0)
            try:
                self.model_info.remove(*previous)
            except KeyError:
                pass
        self.model_info.labels(version, sha256).set(1)

    # -- exposition ---------------------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) of GET /metrics."""
        directory = multiprocess_dir()
        if directory:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Outermost: times every request, counts it by route and status, logs one access line.

    It also turns any exception that escaped the app into the one error shape (500), logged by
    type and stack only, so that nothing the client sent reaches the logs through an error message.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, route_paths: Iterable[str] | None = None):
        self.app = app
        self.metrics = metrics
        self._routes: frozenset[str] | None = frozenset(route_paths) if route_paths is not None else None

    def set_routes(self, paths: Iterable[str]) -> None:
        self._routes = frozenset(paths)

    def _route_label(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path is None and self._routes is not None and scope["path"] in self._routes:
            path = scope["path"]
        return path or "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception as error:
            if type(error).__module__ == "starlette.middleware.body_limit":
                # Starlette's body limit signals its 413 with private exceptions that its own
                # middleware, outside this one, catches: let them through.
                status = 413
                raise
            status = 500
            log_unexpected(error, self._route_label(scope))
            if not response_started:
                response = error_response(500, "internal_error", "an unexpected error occurred", scope=scope)
                await response(scope, receive, send)
        finally:
            seconds = time.perf_counter() - started
            route = self._route_label(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            status_label = str(status)
            self.metrics.requests.labels(route, method, status_label).inc()
            self.metrics.request_duration.labels(route, method, status_label).observe(seconds)
            if status >= 400 and route not in PROBE_ROUTES:  # a 503 from /readyz is an answer, not a refusal
                code = scope.get(ERROR_CODE_SCOPE_KEY)
                reason = REJECTION_REASONS.get(code or "", "invalid" if 400 <= status < 500 else None)
                if reason is not None:
                    self.metrics.rejections.labels(reason).inc()
            if access_logger.isEnabledFor(logging.INFO):
                # Route template, method, status, time: never the raw path, query, headers or body.
                access_logger.info("%s %s %d %.1fms", method, route, status, seconds * 1000)
