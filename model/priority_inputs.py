"""What the priority policy ranked a scored tweet with, kept so that it can be ranked again later.

A tweet's priority depends on how long its customer has waited, so a rank given on arrival goes
stale in a queue (DESIGN.md: the respond-by targets). The inbox stores these inputs beside each
item and re-ranks open items with `prioritise` as time passes (and under a reloaded policy).

Only what `prioritise` reads is kept, never text: the head outputs from the result, when the
tweet was written (or scored, when the record did not say), the authors of the earlier turns of
the thread (customer / brand: the policy counts unanswered turns and the thread's length) and the
author's reach (followers, verified).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping

from model.priority import PrioritySignals
from model.records import Author, TweetRecord, Turn

INPUTS_VERSION = 1


def signals_from_result(result: Mapping[str, Any], record: TweetRecord, scored_at: datetime) -> PrioritySignals:
    """The signals `TriageModel.score` ranked `record` with, rebuilt from its result.

    A record without `created_at` was ranked as written at `scored_at` (the `now` it was scored at).
    """
    return PrioritySignals(
        intent_label=result["intent"]["label"],
        intent_tags=tuple(result["intent"]["tags"]),
        sentiment_label=result["sentiment"]["label"],
        sentiment_score=result["sentiment"]["score"],
        urgency_level=result["urgency"]["level"],
        urgency_score=result["urgency"]["score"],
        dm_suggest=result["dm"]["suggest"],
        dm_reasons=tuple(result["dm"]["reasons"]),
        created_at=record.created_at or scored_at,
        context=record.context,
        author=record.author,
    )


def inputs_to_json(signals: PrioritySignals, locale: str) -> str:
    """The signals (and the locale of the badge texts) as JSON, without any text of the thread."""
    created = signals.created_at.astimezone(timezone.utc) if signals.created_at else None
    author = signals.author
    return json.dumps(
        {
            "v": INPUTS_VERSION,
            "locale": locale,
            "intent_label": signals.intent_label,
            "intent_tags": list(signals.intent_tags),
            "sentiment_label": signals.sentiment_label,
            "sentiment_score": signals.sentiment_score,
            "urgency_level": signals.urgency_level,
            "urgency_score": signals.urgency_score,
            "dm_suggest": signals.dm_suggest,
            "dm_reasons": list(signals.dm_reasons),
            "created_at": created.isoformat() if created else None,
            "thread_authors": [turn.author for turn in signals.context],
            "followers": author.followers if author else None,
            "verified": author.verified if author else None,
        },
        separators=(",", ":"),
    )


def inputs_from_json(text: str) -> tuple[PrioritySignals, str]:
    """(signals, locale) from `inputs_to_json`; `ValueError` for anything else."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("v") != INPUTS_VERSION:
        raise ValueError("unknown priority inputs")
    created = datetime.fromisoformat(data["created_at"]) if data["created_at"] else None
    has_author = data["followers"] is not None or data["verified"] is not None
    signals = PrioritySignals(
        intent_label=data["intent_label"],
        intent_tags=tuple(data["intent_tags"]),
        sentiment_label=data["sentiment_label"],
        sentiment_score=float(data["sentiment_score"]),
        urgency_level=int(data["urgency_level"]),
        urgency_score=float(data["urgency_score"]),
        dm_suggest=bool(data["dm_suggest"]),
        dm_reasons=tuple(data["dm_reasons"]),
        created_at=created,
        context=tuple(Turn(author=author, text="") for author in data["thread_authors"]),
        author=Author(followers=data["followers"], verified=data["verified"]) if has_author else None,
    )
    return signals, data["locale"]
