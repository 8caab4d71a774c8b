"""API keys: the `X-API-Key` header, checked against sha256 digests in constant time.

With `TRIAGE_API_KEYS` unset authentication is off and the service only binds to loopback
(settings.py refuses anything else). Keys are never kept, logged or used as metric labels: a
client is known by `key:` + the first 12 hex digits of its key's sha256.

The check runs twice on purpose: `RequireApiKeyMiddleware` refuses an unauthenticated request
before its body is read (FastAPI reads and parses the body before it solves dependencies), and
the `Security` dependency declares the scheme in the OpenAPI schema and gives routes the client.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Awaitable, Callable

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.errors import ApiError, error_response
from serving.settings import Settings, key_digest

API_KEY_HEADER = "X-API-Key"
CLIENT_SCOPE_KEY = "triage.client"
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "APIKey"}


@dataclass(frozen=True)
class Client:
    """Who is calling: an id safe to log and to rate-limit by, and whether it is an admin."""

    id: str
    admin: bool = False


class ApiKeys:
    """The configured keys, as digests; `identify` maps a presented key to a `Client`."""

    def __init__(self, settings: Settings):
        self.enabled = settings.auth_enabled
        self._clients = frozenset(settings.api_key_digests)
        self._admins = frozenset(settings.admin_key_digests)

    def identify(self, presented: str | None) -> Client | None:
        """The client for a presented key, or None. Every digest is compared, in constant time."""
        if not presented:
            return None
        digest = key_digest(presented)
        is_client = is_admin = False
        for known in self._clients:
            is_client |= hmac.compare_digest(digest, known)
        for known in self._admins:
            is_admin |= hmac.compare_digest(digest, known)
        if not (is_client or is_admin):
            return None
        return Client(id="key:" + digest.hex()[:12], admin=is_admin)


def anonymous_client(request: Request) -> Client:
    """Without keys (loopback only): one client per address, everyone an admin."""
    host = request.client.host if request.client else "local"
    return Client(id=f"addr:{host}", admin=True)


def unauthorized(message: str = "a valid X-API-Key header is required") -> ApiError:
    return ApiError(401, "unauthorized", message, _UNAUTHORIZED_HEADERS)


ClientDependency = Callable[..., Awaitable[Client]]


def build_client_dependency(keys: ApiKeys) -> ClientDependency:
    """The dependency that names the caller: checks the key when keys are configured."""
    if not keys.enabled:

        async def current_client(request: Request) -> Client:
            return anonymous_client(request)

        return current_client

    header = APIKeyHeader(
        name=API_KEY_HEADER, auto_error=False, description="One of the keys in TRIAGE_API_KEYS or TRIAGE_ADMIN_KEYS."
    )

    async def current_client_with_key(request: Request, key: str | None = Security(header)) -> Client:  # noqa: B008
        client = request.scope.get(CLIENT_SCOPE_KEY) or keys.identify(key)
        if client is None:
            raise unauthorized()
        return client

    return current_client_with_key


def build_admin_dependency(client_dependency: ClientDependency) -> ClientDependency:
    """Admin routes: a key from TRIAGE_ADMIN_KEYS when keys are configured (403 for other keys)."""
    # Defaults, not Annotated, in these closures: this module's annotations are strings and FastAPI
    # could not resolve a local dependency from one.
    async def current_admin(client: Client = Depends(client_dependency)) -> Client:  # noqa: B008
        if not client.admin:
            raise ApiError(403, "forbidden", "this endpoint needs a key from TRIAGE_ADMIN_KEYS")
        return client

    return current_admin


class RequireApiKeyMiddleware:
    """Refuse requests to protected paths without a valid key before anything reads their body."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, protected_prefix: str = "/v1/"):
        self.app = app
        self.keys = keys
        self.prefix = protected_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys.enabled or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        presented = None
        wanted = API_KEY_HEADER.lower().encode("latin-1")
        for name, value in scope["headers"]:
            if name == wanted:
                presented = value.decode("latin-1")
                break
        client = self.keys.identify(presented)
        if client is None:
            response = error_response(
                401, "unauthorized", "a valid X-API-Key header is required", _UNAUTHORIZED_HEADERS, scope=scope
            )
            await response(scope, receive, send)
            return
        scope[CLIENT_SCOPE_KEY] = client
        await self.app(scope, receive, send)
