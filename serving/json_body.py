"""Strict JSON bodies: UTF-8 only, no duplicate keys, no NaN or infinities, bounded nesting.

Python's `json.loads` (what FastAPI uses to parse bodies) is lenient: it guesses UTF-16/32
encodings, keeps the last of duplicate keys (a proxy may have kept the first: OWASP API8's
"uniform processing"), accepts `NaN`, `Infinity` and `1e999`, and raises RecursionError on deep
nesting, which FastAPI answers with a generic 400. `StrictJSONRoute` parses bodies with
`strict_json_loads` instead; each problem becomes a 422 with its own code (errors.py), and a body
sent with another media type is answered 415.
"""

from __future__ import annotations

import email.message
import json
import math
from typing import Any, Callable, Coroutine

from fastapi import Request, Response
from fastapi.routing import APIRoute

from serving.errors import ApiError

SEND_JSON = "send the body as JSON with Content-Type: application/json"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate_key: an object has the same key twice")
    return result


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid_number: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("invalid_number: a number is too large")
    return value


def strict_json_loads(body: bytes) -> Any:
    """Parse a request body, raising `json.JSONDecodeError` whose message starts with an error code."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError("invalid_encoding: the body is not UTF-8", "", error.start) from None
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except json.JSONDecodeError:
        raise
    except ValueError as error:
        raise json.JSONDecodeError(str(error), "", 0) from None
    except RecursionError:
        raise json.JSONDecodeError("nested_too_deeply: the body is nested too deeply", "", 0) from None


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json_loads(await self.body())
        return self._json


def _is_json_media_type(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class StrictJSONRoute(APIRoute):
    """An APIRoute whose JSON body is parsed strictly and must be sent as application/json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def strict_handler(request: Request) -> Response:
            if takes_body:
                content_type = request.headers.get("content-type")
                # No Content-Type at all is a 422 (RELIABILITY.md checklist row 6); another type is 415.
                if not content_type:
                    raise ApiError(422, "missing_content_type", SEND_JSON)
                if not _is_json_media_type(content_type):
                    raise ApiError(415, "unsupported_media_type", SEND_JSON)
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
