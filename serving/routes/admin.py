"""POST /v1/admin/reload: load the model directory and policy again, verified, and swap them in."""

from __future__ import annotations

import logging
import os
import signal

from fastapi import APIRouter, Request

from serving.deps import get_holder
from serving.errors import ApiError
from serving.routes import auth_statuses, error_responses
from serving.schemas import ReloadOut
from serving.settings import Settings
from serving.state import ReloadError

logger = logging.getLogger("serving.admin")

SUPERVISOR_ENV = "TRIAGE_SUPERVISOR_PID"
"""Set by `triage serve --workers N` (N > 1) to the pid of uvicorn's supervisor process."""


def request_rolling_restart() -> bool:
    """Under `triage serve --workers N`, ask uvicorn's supervisor to replace every worker.

    uvicorn starts each replacement, waits until it is ready (its lifespan loaded, verified and
    smoke-tested the model) and only then stops the old worker; a replacement that fails to start
    aborts the restart and the old workers keep serving.
    """
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or not supervisor.isdigit() or int(supervisor) != os.getppid():
        return False
    os.kill(int(supervisor), signal.SIGHUP)
    return True


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.post(
        "/v1/admin/reload",
        response_model=ReloadOut,
        summary="Reload the model and policy",
        responses=error_responses(*auth_statuses(settings.auth_enabled, admin=True), 409, 429, 503),
    )
    def reload_model(request: Request) -> dict:
        """Reload the model directory and the priority policy; a broken one leaves the current model serving."""
        holder = get_holder(request)
        metrics = request.app.state.metrics
        previous = holder.current
        try:
            loaded, previous = holder.reload()
        except ReloadError as error:
            metrics.reloads.labels("failure").inc()
            serving = f"still serving {previous.version}" if previous else "no model is loaded"
            logger.error("reload failed (%s): %s", serving, error)
            raise ApiError(409, "reload_failed", f"reload failed, {serving}: {error}") from None
        metrics.reloads.labels("success").inc()
        restarting = request_rolling_restart()
        return {
            "status": "reloaded",
            "model_version": loaded.version,
            "sha256": loaded.sha256,
            "policy": loaded.policy_info,
            "previous_model_version": previous.version if previous else None,
            "rolling_restart": restarting,
        }

    return router
