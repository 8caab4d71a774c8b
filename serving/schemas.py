"""Request and response models of the API: the output contract of DESIGN.md, documented in /docs.

Input models mirror `model.records` and delegate to it: every tweet is validated by
`parse_record` first, so Python, the CLI and HTTP accept and refuse exactly the same records with
the same error codes. The pydantic fields below document the shape in the OpenAPI schema; their
constraints are never stricter than `parse_record`'s.

Output models describe what `TriageModel.score` returns; the route sends those dicts as they are
(they are the contract already), and the models give /docs and the schema tests the contract.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from model.records import MAX_CONTEXT_TURNS, MAX_ID_CHARS, MAX_TEXT_CHARS, RecordError, TweetRecord, parse_record

_TEXT = Field(
    min_length=1,
    max_length=MAX_TEXT_CHARS,
    description=f"Tweet text, 1 to {MAX_TEXT_CHARS:,} code points; not blank, no NUL, no lone surrogate.",
)
_TIMESTAMP_DESCRIPTION = "ISO 8601 timestamp; one without a zone is taken as UTC."


# --- input ------------------------------------------------------------------------------------


# Properties to receive for an earlier turn of the thread
class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author: Literal["customer", "brand"]
    text: Annotated[str, _TEXT]
    created_at: str | None = Field(None, description=_TIMESTAMP_DESCRIPTION)


# Properties to receive about the tweet's author (reach only, never identity)
class AuthorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    followers: int | None = Field(None, ge=0)
    verified: bool | None = None


# Properties to receive for one tweet to score
class TweetIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"id": "t1", "text": "@brand my order never arrived, where is it?"}]},
    )

    id: Union[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)], int] = Field(
        description="Your id of the tweet, echoed in its result (as a string)."
    )
    text: Annotated[str, _TEXT]
    context: list[TurnIn] | None = Field(
        None, max_length=MAX_CONTEXT_TURNS, description="Earlier turns of the thread, oldest first."
    )
    created_at: str | None = Field(None, description=_TIMESTAMP_DESCRIPTION + " Waits are counted from it.")
    author: AuthorIn | None = None
    lang: str | None = Field(None, min_length=2, max_length=16, description="Language tag such as 'en' or 'it'.")

    _record: TweetRecord | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _validate_as_records_do(cls, value: Any, handler: ModelWrapValidatorHandler[TweetIn]) -> TweetIn:
        """`parse_record` decides, with its own error codes; pydantic then only fills the fields."""
        if isinstance(value, cls):
            return value
        try:
            record = parse_record(value)
        except RecordError as error:
            # The code becomes the error type; the message never quotes the tweet (model.records).
            raise PydanticCustomError(error.code, "{reason}", {"reason": str(error)}) from None
        tweet = handler(value)
        tweet._record = record
        return tweet

    @property
    def record(self) -> TweetRecord:
        """The validated record, as `model.records.parse_record` built it."""
        return self._record if self._record is not None else parse_record(self.model_dump(exclude_none=True))


@lru_cache(maxsize=None)
def score_request_model(max_batch: int) -> type[BaseModel]:
    """The request body of POST /v1/score for a batch limit (the limit is a setting)."""

    # Properties to receive on a scoring request
    class ScoreRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"tweets": [{"id": "t1", "text": "@brand my order never arrived"}]}]},
        )

        tweets: list[TweetIn] = Field(min_length=1, max_length=max_batch, description=f"1 to {max_batch} tweets.")

    return ScoreRequest


# --- output: the contract of DESIGN.md --------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntentOut(_Out):
    label: str = Field(description="First of complaint, question, praise among the tags, else `other`.")
    tags: list[str] = Field(description="Intents above their thresholds (a tweet can be several).")
    scores: dict[str, float] = Field(description="Independent probability of every intent tag.")


class SentimentOut(_Out):
    label: str
    score: float = Field(ge=-1, le=1, description="P(positive) - P(negative).")
    scores: dict[str, float]


class UrgencyOut(_Out):
    level: int = Field(ge=0, le=3, description="0-3: low, normal, high, critical.")
    label: str
    score: float = Field(ge=0, le=1)


class DmOut(_Out):
    suggest: bool = Field(description="Whether the agent should move the thread to private messages.")
    score: float = Field(ge=0, le=1)
    reasons: list[str]


class PiiSpanOut(_Out):
    type: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class BadgeOut(_Out):
    text: str
    color: str


class PriorityOut(_Out):
    rank: Literal["P1", "P2", "P3", "P4"]
    score: int = Field(ge=0, le=100)
    respond_by: str = Field(description="UTC time the answer is due, like 2026-11-23T10:42:00Z.")
    reasons: list[str] = Field(description="Why, most important first, worded in the request's locale.")
    reason_codes: list[str] = Field(description="Stable codes of the reasons, the same in every locale.")
    badge: BadgeOut


class PhraseOut(_Out):
    phrase: str
    weight: float


# Properties to return for one scored tweet
class TweetResult(_Out):
    id: str
    model_version: str
    lang: str = Field(description="Language scored: the tweet's `lang` (primary subtag) when given, else detected; `und` if undeterminable.")
    lang_supported: bool = Field(description="Whether the model was trained on `lang`; other languages are still scored.")
    intent: IntentOut
    sentiment: SentimentOut
    urgency: UrgencyOut
    dm: DmOut
    pii: list[PiiSpanOut]
    priority: PriorityOut
    redacted_text: str | None = Field(None, description="With `redact=true`: the text with personal data masked.")
    explanation: dict[str, list[PhraseOut]] | None = Field(
        None, description="With `explain=true`: per head, the phrases that pushed its score most."
    )


# Properties to return for a scoring request
class ScoreResponse(_Out):
    model_version: str
    results: list[TweetResult] = Field(description="One result per tweet, in request order.")


class PolicyOut(_Out):
    name: str
    version: str


# Properties to return about the model being served
class ModelInfo(_Out):
    model_version: str
    name: str | None = None
    backend: str | None = None
    trained_at: str | None = None
    normaliser_version: int | None = None
    sha256: str = Field(description="sha256 of the model's manifest (which lists the sha256 of every file).")
    labels: dict[str, list[str]]
    thresholds: dict[str, Any]
    metrics: dict[str, float | None]
    policy: PolicyOut
    locales: list[str]
    languages: list[str] = Field(description="Languages the model was trained on; results in others are flagged.")
    loaded_at: str


class ReadyOut(_Out):
    status: Literal["ready"]
    model_version: str
    sha256: str
    policy: PolicyOut


class AliveOut(_Out):
    status: Literal["alive"]


class ReloadOut(_Out):
    status: Literal["reloaded"]
    model_version: str
    sha256: str
    policy: PolicyOut
    previous_model_version: str | None
    rolling_restart: bool = Field(
        description="True under `triage serve --workers N`: the other workers are being replaced to load it too."
    )


class ErrorDetail(_Out):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str = Field(description="One line for people; never quotes the request.")


# The one error shape of every endpoint
class ErrorResponse(_Out):
    error: ErrorDetail
