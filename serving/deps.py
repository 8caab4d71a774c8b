"""Dependencies shared by the routes: the served model, and typed aliases that keep routes short.

Tests override `get_model` (`app.dependency_overrides[get_model] = ...`) to serve any model.
Dependencies here are `async def` on purpose: a plain `def` dependency costs a trip through the
thread pool on every request, and none of them does blocking work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.errors import ApiError
from serving.settings import Settings
from serving.state import LoadedModel, ModelHolder


def get_holder(request: Request) -> ModelHolder:
    return request.app.state.holder


async def get_settings_dependency(request: Request) -> Settings:
    return request.app.state.settings


async def get_model(request: Request) -> LoadedModel:
    """The model to score this request with: read once, so a reload never changes it mid-request."""
    loaded = get_holder(request).current
    if loaded is None:
        raise ApiError(503, "not_ready", "the model is not loaded yet; retry shortly")
    return loaded


ModelDep = Annotated[LoadedModel, Depends(get_model)]
SettingsDep = Annotated[Settings, Depends(get_settings_dependency)]
