"""Input records (DESIGN.md, output contract): parsing and validation shared by Python, CLI and HTTP.

A record is `{"id", "text"}` plus, optionally, `context` (earlier turns of the thread, oldest
first, each `{"author": "customer"|"brand", "text", "created_at"?}`), `created_at`, `author`
(`{"followers"?, "verified"?}`) and `lang`. `parse_record` turns such a dict into a frozen
`TweetRecord` or raises `RecordError` with a one-line reason that never quotes the tweet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

MAX_TEXT_CHARS = 10_000
"""Long posts are allowed up to this many code points."""
MAX_ID_CHARS = 128
MAX_CONTEXT_TURNS = 50
TURN_AUTHORS = ("customer", "brand")

_RECORD_KEYS = frozenset({"id", "text", "context", "created_at", "author", "lang"})
_TURN_KEYS = frozenset({"author", "text", "created_at"})
_AUTHOR_KEYS = frozenset({"followers", "verified"})


class RecordError(ValueError):
    """A record that cannot be scored; the message is one line and never contains the tweet text."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Turn:
    """One earlier message of the thread."""

    author: str  # "customer" or "brand"
    text: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class Author:
    """What we know of the tweet's author: reach only, never identity."""

    followers: int | None = None
    verified: bool | None = None


@dataclass(frozen=True)
class TweetRecord:
    """A validated input record."""

    id: str
    text: str
    context: tuple[Turn, ...] = ()
    created_at: datetime | None = None
    author: Author | None = None
    lang: str | None = None


def check_text(value: Any, field: str = "text", *, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Return `value` if it is a scoreable text, else raise `RecordError`.

    Refused: non-strings, empty or whitespace-only text, text longer than `max_chars` code points,
    NUL characters and lone surrogates (they cannot be encoded as UTF-8, stored or echoed back).
    """
    if not isinstance(value, str):
        raise RecordError("invalid_type", f"`{field}` must be a string")
    if not value.strip():
        raise RecordError("empty_text", f"`{field}` is empty")
    if len(value) > max_chars:
        raise RecordError("text_too_long", f"`{field}` is longer than {max_chars} characters")
    if "\x00" in value:
        raise RecordError("invalid_character", f"`{field}` contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError("invalid_character", f"`{field}` contains a lone surrogate") from None
    return value


def parse_timestamp(value: Any, field: str) -> datetime:
    """Parse an ISO 8601 timestamp; one without a zone is taken as UTC. Returns an aware datetime."""
    if not isinstance(value, str):
        raise RecordError("invalid_type", f"`{field}` must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordError("invalid_timestamp", f"`{field}` is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _check_keys(value: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(key for key in value if key not in allowed)
    if unknown:
        # Key names are the client's, not tweet text, but cap them so the message stays one line.
        shown = ", ".join(repr(key[:40]) for key in unknown[:5])
        raise RecordError("unknown_field", f"unknown field(s) in {where}: {shown}")


def _parse_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError("invalid_type", "`id` must be a string or an integer")
    text = str(value)
    if not text or len(text) > MAX_ID_CHARS:
        raise RecordError("invalid_id", f"`id` must have 1 to {MAX_ID_CHARS} characters")
    check_text(text, "id", max_chars=MAX_ID_CHARS)
    return text


def _parse_turn(value: Any, index: int) -> Turn:
    where = f"context[{index}]"
    if not isinstance(value, Mapping):
        raise RecordError("invalid_type", f"`{where}` must be an object")
    _check_keys(value, _TURN_KEYS, f"`{where}`")
    author = value.get("author")
    if author not in TURN_AUTHORS:
        raise RecordError("invalid_value", f"`{where}.author` must be 'customer' or 'brand'")
    text = check_text(value.get("text"), f"{where}.text")
    created_at = value.get("created_at")
    return Turn(
        author=author,
        text=text,
        created_at=None if created_at is None else parse_timestamp(created_at, f"{where}.created_at"),
    )


def _parse_author(value: Any) -> Author:
    if not isinstance(value, Mapping):
        raise RecordError("invalid_type", "`author` must be an object")
    _check_keys(value, _AUTHOR_KEYS, "`author`")
    followers = value.get("followers")
    if followers is not None:
        if isinstance(followers, bool) or not isinstance(followers, (int, float)):
            raise RecordError("invalid_type", "`author.followers` must be a number")
        if not math.isfinite(followers) or followers < 0 or followers != int(followers):
            raise RecordError("invalid_value", "`author.followers` must be a whole number >= 0")
        followers = int(followers)
    verified = value.get("verified")
    if verified is not None and not isinstance(verified, bool):
        raise RecordError("invalid_type", "`author.verified` must be true or false")
    return Author(followers=followers, verified=verified)


def _parse_lang(value: Any) -> str:
    if not isinstance(value, str) or not (2 <= len(value) <= 16) or not value.replace("-", "").isalnum():
        raise RecordError("invalid_value", "`lang` must be a language tag such as 'en' or 'it'")
    return value.lower()


def parse_record(value: Any) -> TweetRecord:
    """Validate one input record (a dict) and return it as a `TweetRecord`."""
    if isinstance(value, TweetRecord):
        return value
    if not isinstance(value, Mapping):
        raise RecordError("invalid_type", "a record must be a JSON object")
    _check_keys(value, _RECORD_KEYS, "the record")
    if "id" not in value:
        raise RecordError("missing_field", "`id` is missing")
    if "text" not in value:
        raise RecordError("missing_field", "`text` is missing")
    record_id = _parse_id(value["id"])
    text = check_text(value["text"])
    context = value.get("context")
    if context is None:
        turns: tuple[Turn, ...] = ()
    elif not isinstance(context, list):
        raise RecordError("invalid_type", "`context` must be a list of turns")
    elif len(context) > MAX_CONTEXT_TURNS:
        raise RecordError("too_many_turns", f"`context` has more than {MAX_CONTEXT_TURNS} turns")
    else:
        turns = tuple(_parse_turn(turn, index) for index, turn in enumerate(context))
    created_at = value.get("created_at")
    author = value.get("author")
    lang = value.get("lang")
    return TweetRecord(
        id=record_id,
        text=text,
        context=turns,
        created_at=None if created_at is None else parse_timestamp(created_at, "created_at"),
        author=None if author is None else _parse_author(author),
        lang=None if lang is None else _parse_lang(lang),
    )
