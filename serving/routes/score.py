"""POST /v1/score: tweets in, the output contract out, in request order."""

# No `from __future__ import annotations` here: the request model is built per batch limit inside
# `build_router`, and FastAPI must see the class itself, not a string it cannot resolve.

import time
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from model.priority import SUPPORTED_LOCALES
from serving.deps import ModelDep
from serving.json_body import StrictJSONRoute
from serving.limits import DEADLINE_SCOPE_KEY, budget_exceeded
from serving.routes import auth_statuses, error_responses
from serving.schemas import ScoreResponse, score_request_model
from serving.settings import Settings
from serving.state import BudgetExceeded

Locale = Literal[SUPPORTED_LOCALES]  # type: ignore[valid-type]
DEFAULT_LOCALE = "en"

EXPLAIN = "Add `explanation`: per head, the phrases that pushed its score most."
REDACT = "Add `redacted_text`: the tweet with its personal data masked."
LOCALE = "Language of badges and reasons (codes never change). Default: from Accept-Language, else en."
ACCEPT_LANGUAGE = "Used when `locale` is absent, e.g. `it-IT,it;q=0.9`."


def negotiate_locale(accept_language: str | None) -> str:
    """The supported locale the client prefers most (RFC 9110 Accept-Language), else English."""
    if not accept_language:
        return DEFAULT_LOCALE
    best, best_q = DEFAULT_LOCALE, 0.0
    for part in accept_language.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        language = tag.strip().split("-")[0].lower()
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if language in SUPPORTED_LOCALES and q > best_q and q <= 1.0:
            best, best_q = language, q
    return best


def build_router(settings: Settings) -> APIRouter:
    ScoreRequest = score_request_model(settings.max_batch)
    router = APIRouter(route_class=StrictJSONRoute, tags=["scoring"])

    @router.post(
        "/v1/score",
        response_model=ScoreResponse,
        summary="Score tweets",
        responses=error_responses(*auth_statuses(settings.auth_enabled), 413, 415, 422, 429, 503, 504),
    )
    def score(
        body: ScoreRequest,  # type: ignore[valid-type]
        loaded: ModelDep,
        request: Request,
        explain: Annotated[bool, Query(description=EXPLAIN)] = False,
        redact: Annotated[bool, Query(description=REDACT)] = False,
        locale: Annotated[Locale | None, Query(description=LOCALE)] = None,
        accept_language: Annotated[str | None, Header(description=ACCEPT_LANGUAGE)] = None,
    ) -> JSONResponse:
        """Score 1 to TRIAGE_MAX_BATCH tweets; one result per tweet, in request order."""
        chosen = locale or negotiate_locale(accept_language)
        records = [tweet.record for tweet in body.tweets]  # type: ignore[attr-defined]
        started = time.perf_counter()
        try:
            results = loaded.score(
                records,
                deadline=request.scope.get(DEADLINE_SCOPE_KEY),
                now=datetime.now(timezone.utc),
                locale=chosen,
                explain=explain,
                redact=redact,
            )
        except BudgetExceeded:
            raise budget_exceeded() from None
        request.app.state.metrics.observe_predictions(results, time.perf_counter() - started)
        # The results are the contract already: sent as they are, without a second validation.
        return JSONResponse(
            {"model_version": loaded.version, "results": results}, headers={"Content-Language": chosen}
        )

    return router
