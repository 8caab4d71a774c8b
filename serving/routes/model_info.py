"""GET /v1/model: what is being served (manifest summary, policy, hash)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import ModelDep
from serving.routes import auth_statuses, error_responses
from serving.schemas import ModelInfo
from serving.settings import Settings


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["model"])

    @router.get(
        "/v1/model",
        response_model=ModelInfo,
        summary="Describe the model",
        responses=error_responses(*auth_statuses(settings.auth_enabled), 429, 503, 504),
    )
    async def model_info(loaded: ModelDep) -> JSONResponse:
        """Retrieve the served model's version, labels, thresholds, metrics, training date and policy."""
        return JSONResponse(loaded.summary())

    return router
