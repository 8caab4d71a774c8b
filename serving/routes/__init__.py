"""The API's routers, one module per area; `serving.app.create_app` includes them.

Every module exposes `build_router(settings) -> APIRouter` (some limits, such as the batch size,
are part of the documented schema).
"""

from __future__ import annotations

from typing import Any

from serving.schemas import ErrorResponse

_DESCRIPTIONS = {
    401: "No valid X-API-Key header (only when TRIAGE_API_KEYS is set).",
    403: "The key may not use this endpoint (admin endpoints need a TRIAGE_ADMIN_KEYS key).",
    409: "The reload failed; the previous model keeps serving.",
    413: "The body is larger than TRIAGE_MAX_BODY_BYTES.",
    415: "The body is not sent as application/json.",
    422: "The request is not valid: see `error.code` (e.g. batch_too_large, text_too_long, invalid_character).",
    429: "Rate limit of this key exceeded (TRIAGE_RATE_LIMIT); retry after Retry-After seconds.",
    503: "Not ready (model loading, shutting down) or too many requests in progress; retry after Retry-After.",
    504: "The request did not finish within TRIAGE_REQUEST_TIMEOUT_S.",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}


def error_responses(*statuses: int, descriptions: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, all in the one error shape (`descriptions` override ours)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = (descriptions or {}).get(status) or _DESCRIPTIONS[status]
        entry: dict[str, Any] = {"model": ErrorResponse, "description": description}
        if status in (429, 503, 504):
            entry["headers"] = _RETRY_AFTER
        responses[status] = entry
    return responses


def auth_statuses(auth_enabled: bool, admin: bool = False) -> tuple[int, ...]:
    if not auth_enabled:
        return ()
    return (401, 403) if admin else (401,)
