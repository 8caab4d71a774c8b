"""The agents' inbox and their feedback: /v1/inbox, /v1/inbox/{tweet_id}, /v1/feedback, /v1/feedback/export.

Tweets pushed into the inbox are scored on arrival (explanation and redacted text included) and
stored with the model's answer; the queue is listed by priority then respond-by. Agents mark
items handled, remove them, and correct any head; a correction retried with the same
`Idempotency-Key` is stored once (IETF draft-ietf-httpapi-idempotency-key-header). The export
streams the corrected tweets as JSON Lines in the care-label format of LABELLING.md, ready for
`triage train --with-feedback`.

Routes are plain `def`: the store blocks (SQLite waits for its write lock), and so does scoring.
One inbox per deployment: every key sees the same queue (a brand's agents share it);
idempotency keys are scoped to the client (API key) that sent them.
"""

# No `from __future__ import annotations`: the request models are built per setting inside
# `build_router`, and FastAPI must see the classes themselves.

import hashlib
import json
import logging
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Iterator, Literal, Union

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.feedback import FEEDBACK_FIELDS, MAX_AGENT_CHARS, FeedbackError, normalise_value
from model.priority_inputs import inputs_to_json, signals_from_result
from model.records import MAX_ID_CHARS, RecordError, check_text
from serving.deps import ModelDep
from serving.errors import ApiError, error_response
from serving.json_body import StrictJSONRoute
from serving.limits import DEADLINE_SCOPE_KEY, budget_exceeded
from serving.routes import auth_statuses, error_responses
from serving.routes.score import ACCEPT_LANGUAGE, LOCALE, Locale, negotiate_locale
from serving.schemas import TweetResult, score_request_model
from serving.security import Client
from serving.settings import Settings
from serving.state import BudgetExceeded
from serving.store import IdempotencyConflict, Store, StoreError, StoreUnavailable

logger = logging.getLogger("serving.inbox")

DESCRIPTIONS = {
    404: "No such tweet in the inbox.",
    409: "This Idempotency-Key was already used by this key for a different request.",
    503: "The inbox store is unavailable or busy, the model is not loaded, or too many requests are "
         "in progress; retry after Retry-After.",
}
IDEMPOTENCY = ("Any unique string (a UUID): a retried request with the same key and body stores one row "
               "and gets the same answer (200, `Idempotent-Replayed: true`).")
TWEET_ID = Path(min_length=1, max_length=MAX_ID_CHARS, description="The tweet's id, as pushed.")


# --- models ----------------------------------------------------------------------------------


def _clean(value: str, field: str, max_chars: int) -> str:
    try:
        return check_text(value, field, max_chars=max_chars)
    except RecordError as error:
        raise PydanticCustomError(error.code, "{reason}", {"reason": str(error)}) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InboxItemOut(_Model):
    tweet_id: str
    status: Literal["open", "handled"]
    received_at: str
    created_at: str | None
    handled_at: str | None
    handled_by: str | None
    redacted_text: str = Field(description="The tweet with its personal data masked.")
    result: TweetResult = Field(description="The model's answer on arrival (output contract).")
    corrections: dict[str, Any] = Field(description="Agents' latest correction of each corrected field.")


class InboxItemFull(InboxItemOut):
    text: str = Field(description="The tweet as received (personal data included).")
    explanation: dict[str, list[dict[str, Any]]] = Field(description="Per head, the phrases that pushed its score most.")


class InboxPage(_Model):
    total: int = Field(description="Items matching the filters.")
    items: list[InboxItemOut]


class InboxAdded(_Model):
    model_version: str
    added: list[str] = Field(description="Ids stored, scored on arrival.")
    duplicates: list[str] = Field(description="Ids already in the inbox (left as they were) or repeated in the request.")


class StatusIn(_Model):
    status: Literal["open", "handled"]
    agent: str | None = Field(None, min_length=1, max_length=MAX_AGENT_CHARS)

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        return None if value is None else _clean(value, "agent", MAX_AGENT_CHARS)


class FeedbackIn(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tweet_id": "t1", "field": "intent", "value": ["question"], "agent": "ana"}]},
    )

    tweet_id: Union[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)], int]
    field: Literal[FEEDBACK_FIELDS]  # type: ignore[valid-type]
    value: Union[bool, int, Annotated[str, Field(max_length=32)], Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=3)]] = Field(
        description="intent: list of tags or one label; sentiment: negative/neutral/positive; "
                    "urgency: 0-3 or low/normal/high/critical; dm: true/false."
    )
    agent: str = Field(min_length=1, max_length=MAX_AGENT_CHARS, description="Who corrected it (a name or an id).")

    @field_validator("tweet_id")
    @classmethod
    def _tweet_id(cls, value: str | int) -> str | int:
        return _clean(value, "tweet_id", MAX_ID_CHARS) if isinstance(value, str) else value

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        return _clean(value, "agent", MAX_AGENT_CHARS)


class FeedbackOut(_Model):
    id: int
    tweet_id: str
    field: str
    value: Any
    agent: str
    created_at: str


# --- dependencies ----------------------------------------------------------------------------


def get_store(request: Request) -> Store:
    """The app's store, opened (and migrated) on first use when start-up could not."""
    store: Store = request.app.state.store
    if not store.is_open:
        try:
            store.open()
        except StoreUnavailable:
            raise ApiError(503, "store_unavailable", "the inbox store is unavailable; retry shortly") from None
    return store


StoreDep = Annotated[Store, Depends(get_store)]


async def store_error_handler(request: Request, exc: StoreError) -> JSONResponse:
    if isinstance(exc, IdempotencyConflict):
        return error_response(409, "idempotency_key_reused", str(exc), scope=request.scope)
    logger.warning("inbox store: %s", exc)  # our own one-line message: no tweet text in it
    return error_response(503, "store_unavailable", "the inbox store is unavailable or busy; retry shortly",
                          scope=request.scope)


WRITE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def install(app: FastAPI, registry) -> None:
    """The store's error handler and the feedback metrics (in the app's metrics registry)."""
    from prometheus_client import Counter, Histogram

    app.add_exception_handler(StoreError, store_error_handler)  # type: ignore[arg-type]
    app.state.feedback_writes = Counter(
        "triage_feedback_writes_total", "Feedback writes by result (stored, replayed, not_found).", ("result",),
        registry=registry,
    )
    app.state.feedback_write_seconds = Histogram(
        "triage_feedback_write_seconds", "Time to store one correction in the database, waiting for its lock included.",
        buckets=WRITE_BUCKETS, registry=registry,
    )


def _not_found() -> ApiError:
    return ApiError(404, "tweet_not_found", "no tweet with this id in the inbox")


def _remaining(request: Request) -> float | None:
    deadline = request.scope.get(DEADLINE_SCOPE_KEY)
    return None if deadline is None else deadline - time.monotonic()


# --- routes ----------------------------------------------------------------------------------


def build_router(settings: Settings, client_dependency) -> APIRouter:
    InboxRequest = score_request_model(settings.max_batch)
    router = APIRouter(route_class=StrictJSONRoute, tags=["inbox"])
    auth = auth_statuses(settings.auth_enabled)

    def responses(*statuses: int) -> dict:
        return error_responses(*auth, *statuses, 429, 503, 504, descriptions=DESCRIPTIONS)

    @router.post(
        "/v1/inbox",
        status_code=201,
        response_model=InboxAdded,
        summary="Push tweets into the inbox",
        responses=responses(413, 415, 422),
    )
    def push(
        body: InboxRequest,  # type: ignore[valid-type]
        loaded: ModelDep,
        store: StoreDep,
        request: Request,
        locale: Annotated[Locale | None, Query(description=LOCALE)] = None,
        accept_language: Annotated[str | None, Header(description=ACCEPT_LANGUAGE)] = None,
    ) -> JSONResponse:
        """Score 1 to TRIAGE_MAX_BATCH tweets on arrival and add them to the queue. Ids already in
        the inbox are left as they were (listed in `duplicates`)."""
        tweets = body.tweets  # type: ignore[attr-defined]
        now = datetime.now(timezone.utc)
        chosen = locale or negotiate_locale(accept_language)
        parsed = [tweet.record for tweet in tweets]
        try:
            results = loaded.score(
                parsed,
                deadline=request.scope.get(DEADLINE_SCOPE_KEY),
                now=now,
                locale=chosen,
                explain=True,
                redact=True,
            )
        except BudgetExceeded:
            raise budget_exceeded() from None
        records = [tweet.model_dump(exclude_none=True) for tweet in tweets]
        inputs = [inputs_to_json(signals_from_result(result, record, now), chosen)
                  for result, record in zip(results, parsed)]
        added, duplicates = store.add_items(list(zip(records, results)), timeout_s=_remaining(request),
                                            priority_inputs=inputs)
        return JSONResponse({"model_version": loaded.version, "added": added, "duplicates": duplicates},
                            status_code=201)

    @router.get(
        "/v1/inbox",
        response_model=InboxPage,
        summary="List the queue",
        responses=responses(422),
    )
    def list_inbox(
        store: StoreDep,
        request: Request,
        status: Annotated[Literal["open", "handled", "all"], Query(description="Which items.")] = "open",
        sort: Annotated[Literal["priority", "respond_by", "newest"],
                        Query(description="priority: rank, then respond-by, then score.")] = "priority",
        rank: Annotated[list[Literal["P1", "P2", "P3", "P4"]] | None, Query(max_length=4, description="Only these ranks.")] = None,
        intent: Annotated[Literal["complaint", "question", "praise", "other"] | None,
                          Query(description="Only tweets with this intent tag.")] = None,
        dm: Annotated[bool | None, Query(description="Only tweets where moving to DM is (not) suggested.")] = None,
        limit: Annotated[int, Query(ge=1, le=settings.inbox_max_items)] = min(100, settings.inbox_max_items),
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> JSONResponse:
        """The queue, most urgent first: P1 before P2..., then the earliest respond-by. Open items
        are ranked again as their customers wait (at most every few seconds)."""
        loaded = request.app.state.holder.current
        if loaded is not None:
            store.rerank_if_due(loaded.model.policy)
        items, total = store.list_items(status=None if status == "all" else status, ranks=rank or (),
                                        intent=intent, dm=dm, sort=sort, limit=limit, offset=offset)
        return JSONResponse({"total": total, "items": items})

    @router.get(
        "/v1/inbox/{tweet_id}",
        response_model=InboxItemFull,
        summary="One item, with its text as received and its explanation",
        responses=responses(404, 422),
    )
    def get_item(store: StoreDep, tweet_id: Annotated[str, TWEET_ID]) -> JSONResponse:
        """The item with its text as received (personal data included: the page shows it only when
        an agent asks) and the explanation of every head."""
        item = store.get_item(tweet_id, full=True)
        if item is None:
            raise _not_found()
        return JSONResponse(item)

    @router.patch(
        "/v1/inbox/{tweet_id}",
        response_model=InboxItemOut,
        summary="Mark an item handled (or open again)",
        responses=responses(404, 413, 415, 422),
    )
    def set_status(store: StoreDep, request: Request, body: StatusIn,
                   tweet_id: Annotated[str, TWEET_ID]) -> JSONResponse:
        item = store.set_status(tweet_id, body.status, body.agent, timeout_s=_remaining(request))
        if item is None:
            raise _not_found()
        return JSONResponse(item)

    @router.delete(
        "/v1/inbox/{tweet_id}",
        status_code=204,
        summary="Remove an item: its text, answer and corrections are forgotten",
        responses=responses(404, 422),
    )
    def remove(store: StoreDep, request: Request, tweet_id: Annotated[str, TWEET_ID]) -> Response:
        if not store.delete_item(tweet_id, timeout_s=_remaining(request)):
            raise _not_found()
        return Response(status_code=204)

    @router.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackOut,
        summary="Record an agent's correction",
        responses={
            200: {"model": FeedbackOut, "description": "A retry of a stored request (same Idempotency-Key): "
                                                       "the stored correction, nothing added.",
                  "headers": {"Idempotent-Replayed": {"schema": {"type": "string"}}}},
            **responses(404, 409, 413, 415, 422),
        },
    )
    def record_feedback(
        body: FeedbackIn,
        store: StoreDep,
        request: Request,
        client: Client = Depends(client_dependency),  # noqa: B008 (the rate-limited caller, cached)
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                                      pattern=r"^[\x21-\x7e]+$", description=IDEMPOTENCY)] = None,
    ) -> JSONResponse:
        """Correct one head of a tweet in the inbox: intent, sentiment, urgency or dm."""
        try:
            value = normalise_value(body.field, body.value)
        except FeedbackError as error:
            raise ApiError(422, "invalid_feedback_value", str(error)) from None
        tweet_id = str(body.tweet_id)
        canonical = json.dumps([tweet_id, body.field, value, body.agent], ensure_ascii=True, separators=(",", ":"))
        started = time.perf_counter()
        row, replayed = store.record_feedback(
            tweet_id=tweet_id, field=body.field, value=value, agent=body.agent, client=client.id,
            idempotency_key=idempotency_key, request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
            timeout_s=_remaining(request),
        )
        request.app.state.feedback_write_seconds.observe(time.perf_counter() - started)
        metrics = request.app.state.feedback_writes
        if row is None:
            metrics.labels("not_found").inc()
            raise _not_found()
        metrics.labels("replayed" if replayed else "stored").inc()
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return JSONResponse(row.to_dict(), status_code=200 if replayed else 201, headers=headers)

    @router.get(
        "/v1/feedback/export",
        summary="Corrections as JSON Lines in the care-label format",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                  "description": "One LABELLING.md record per corrected tweet: the model's answer with the "
                                 "agents' corrections applied; `corrected` names the fields agents set."},
            **responses(),
        },
    )
    def export_feedback(store: StoreDep) -> StreamingResponse:
        def lines() -> Iterator[bytes]:
            for record in store.export_labels():
                yield (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")

        return StreamingResponse(lines(), media_type="application/x-ndjson",
                                 headers={"Content-Disposition": 'attachment; filename="feedback.jsonl"'})

    # Starlette answers 405 with the methods of the first route of a path only; these routes
    # answer every other method with the full list (schemathesis checks the Allow header).
    _answer_other_methods(router, "/v1/inbox", ("GET", "POST"))
    _answer_other_methods(router, "/v1/inbox/{tweet_id}", ("GET", "PATCH", "DELETE"))
    return router


ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _answer_other_methods(router: APIRouter, path: str, allowed: tuple[str, ...]) -> None:
    allow = ", ".join(allowed)

    async def method_not_allowed() -> None:
        raise StarletteHTTPException(405, headers={"Allow": allow})

    router.add_api_route(path, method_not_allowed, methods=[m for m in ALL_METHODS if m not in allowed],
                         include_in_schema=False)
