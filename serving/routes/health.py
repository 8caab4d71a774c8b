"""Probes and metrics: GET /livez, /readyz and /metrics (no key needed, never rate-limited or capped)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from serving.deps import get_holder
from serving.errors import error_response
from serving.routes import error_responses
from serving.schemas import AliveOut, ReadyOut
from serving.settings import Settings


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/livez", response_model=AliveOut, summary="Liveness")
    async def livez() -> dict:
        """Answer 200 while the process runs."""
        return {"status": "alive"}

    @router.get("/readyz", response_model=ReadyOut, summary="Readiness", responses=error_responses(503))
    async def readyz(request: Request) -> Response:
        """Answer 200 once the model is loaded, verified and smoke-tested; 503 before, and once shutdown begins."""
        holder = get_holder(request)
        loaded = holder.current
        if holder.draining:
            return error_response(503, "shutting_down", "the service is shutting down", scope=request.scope)
        if loaded is None:
            return error_response(503, "not_ready", "the model is not loaded yet", scope=request.scope)
        return JSONResponse(
            {"status": "ready", "model_version": loaded.version, "sha256": loaded.sha256, "policy": loaded.policy_info}
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."}
        },
    )
    def metrics(request: Request) -> Response:
        """Expose Prometheus metrics (text format)."""
        body, content_type = request.app.state.metrics.exposition()
        return Response(body, media_type=content_type)

    return router
