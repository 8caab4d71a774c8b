"""One error shape everywhere: `{"error": {"code", "message"}}`, and handlers that never echo input.

FastAPI's default 422 handler returns the offending `input`; when that input holds a lone
surrogate or a NaN the error response itself cannot be encoded and the client gets a 500
(RELIABILITY.md, checklist rows 1-3). Ours builds every message from field names, positions and
our own words, never from what the client sent, so error bodies (and logs) carry no tweet text.

Codes are stable and machine-readable; messages are for people and may change.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Iterable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from model.records import RecordError

logger = logging.getLogger("serving.errors")

ERROR_CODE_SCOPE_KEY = "triage.error_code"
"""Set in the ASGI scope when a request is answered with an error (read by the metrics middleware)."""

# Status codes that carry a retry hint (RFC 9110 Retry-After, in seconds).
RETRY_AFTER_SECONDS = {429: 1, 503: 1, 504: 1}

_HTTP_CODES = {
    400: ("bad_request", "the request could not be read"),
    401: ("unauthorized", "a valid X-API-Key header is required"),
    403: ("forbidden", "this key may not use this endpoint"),
    404: ("not_found", "no such endpoint"),
    405: ("method_not_allowed", "method not allowed on this endpoint"),
    406: ("not_acceptable", "this endpoint answers application/json"),
    413: ("payload_too_large", "the request body is larger than the limit"),
    415: ("unsupported_media_type", "send the body as JSON with Content-Type: application/json"),
    422: ("invalid_request", "the request is not valid"),
    429: ("rate_limited", "too many requests for this key; retry later"),
    503: ("unavailable", "the service cannot take this request now; retry later"),
    504: ("timeout", "the request did not finish within its time budget"),
}

# Codes we raise ourselves through `PydanticCustomError` (the RecordError codes of model.records)
# or as JSON decoding problems; every other pydantic error type is mapped in `_validation_code`.
JSON_ERROR_CODES = ("invalid_json", "duplicate_key", "invalid_number", "invalid_encoding", "nested_too_deeply")


class ApiError(Exception):
    """An error answered to the client as is: status, stable code, message, optional headers."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, scope: dict | None = None
) -> JSONResponse:
    """The one error shape. Adds Retry-After to 429/503/504 unless given."""
    all_headers = dict(headers or {})
    if status in RETRY_AFTER_SECONDS:
        all_headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS[status]))
    if scope is not None:
        scope[ERROR_CODE_SCOPE_KEY] = code
    return JSONResponse(error_body(code, message), status_code=status, headers=all_headers)


def safe_fragment(value: Any, limit: int = 40) -> str:
    """A short, printable, ASCII-only rendering of a client-supplied name (never of tweet text)."""
    return ascii(str(value)[:limit])


# --- validation errors -----------------------------------------------------------------------


def _location(loc: Iterable[Any]) -> str:
    """`body.tweets.3.text` -> `tweets[3].text`; client-chosen names are escaped and capped."""
    parts: list[str] = []
    for index, item in enumerate(loc):
        if index == 0 and item in ("body", "query", "header", "path", "cookie"):
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            text = str(item)
            if not text.isidentifier() or len(text) > 40:
                text = safe_fragment(text)
            parts.append(("." if parts else "") + text)
    return "".join(parts) or "body"


def _validation_code(error: Mapping[str, Any]) -> tuple[int, str, str]:
    """(status, code, message) for the first validation error of a request."""
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc", ()))
    where = _location(loc)
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        reason = str(ctx.get("error", "invalid JSON"))
        code = next((c for c in JSON_ERROR_CODES if reason.startswith(c + ":")), "invalid_json")
        detail = reason.split(":", 1)[1].strip() if code != "invalid_json" else reason
        position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        at = f" at position {position}" if position is not None and code == "invalid_json" else ""
        return 422, code, f"the body is not valid JSON: {detail}{at}"
    if "reason" in ctx and kind not in ("value_error", "assertion_error"):
        # A RecordError raised by model.records while validating a tweet: keep its code.
        return 422, kind, f"{where}: {ctx['reason']}"
    if loc and loc[0] == "query":
        return 422, "invalid_parameter", f"query parameter {where}: {error.get('msg', 'invalid value')}"
    if loc and loc[0] == "header":
        return 422, "invalid_header", f"header {where}: {error.get('msg', 'invalid value')}"
    if loc == ("body",) and kind in ("missing", "model_attributes_type", "dict_type"):
        return 422, "invalid_body", "the body must be a JSON object such as {\"tweets\": [...]}"
    if loc[:2] == ("body", "tweets") and len(loc) == 2:
        if kind == "too_long":
            return 422, "batch_too_large", f"tweets: at most {ctx.get('max_length')} tweets per request"
        if kind == "too_short":
            return 422, "empty_batch", "tweets: send at least one tweet"
    if kind == "string_unicode":
        # A lone surrogate where pydantic itself reads a string (a key name, for example).
        return 422, "invalid_character", f"{where}: contains a lone surrogate (not valid Unicode)"
    if kind == "extra_forbidden":
        return 422, "unknown_field", f"unknown field `{where}`"
    if kind == "missing":
        return 422, "missing_field", f"{where} is missing"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return 422, "invalid_type", f"{where}: {error.get('msg', 'wrong type')}"
    return 422, "invalid_value", f"{where}: {error.get('msg', 'invalid value')}"


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    status, code, message = _validation_code(errors[0]) if errors else (422, "invalid_request", "invalid request")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error(s))"
    return error_response(status, code, message, scope=request.scope)


async def record_error_handler(request: Request, exc: RecordError) -> JSONResponse:
    # RecordError messages are one line and never quote the tweet (model/records.py).
    return error_response(422, exc.code, str(exc), scope=request.scope)


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers, scope=request.scope)


async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, default_message = _HTTP_CODES.get(exc.status_code, ("http_error", "the request failed"))
    headers = dict(exc.headers or {})
    message = default_message
    if exc.status_code == 405 and "allow" in {key.lower() for key in headers}:
        allowed = next(value for key, value in headers.items() if key.lower() == "allow")
        message = f"method not allowed on this endpoint; allowed: {allowed}"
    return error_response(exc.status_code, code, message, headers, scope=request.scope)


def log_unexpected(exc: BaseException, where: str) -> None:
    """Log an unexpected exception by type and stack only: its message could quote a tweet."""
    frames = "".join(traceback.format_tb(exc.__traceback__)) if exc.__traceback__ else ""
    logger.error("unexpected %s in %s\n%s", type(exc).__name__, where, frames.rstrip())


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # The route's template, never the raw path: a client chooses the path.
    log_unexpected(exc, getattr(request.scope.get("route"), "path", "the service"))
    return error_response(500, "internal_error", "an unexpected error occurred", scope=request.scope)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RecordError, record_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, api_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error_handler)
