"""Agents' corrections: the fields they may correct, their values, and the care-label record they make.

Pure Python, shared by serving (validating `POST /v1/feedback`, `GET /v1/feedback/export`) and
training (`triage train --with-feedback`), so that both read a correction the same way. The
storage itself belongs to `serving.store`; training reads its two tables by reflection, by the
names below, and never imports serving (DESIGN.md: imports flow training -> model <- serving).

A correction is `{"tweet_id", "field", "value", "agent"}`:

| field       | value                                                         |
|-------------|---------------------------------------------------------------|
| `intent`    | a list of tags (`["complaint", "question"]`, `[]` for other), or one label: `complaint`, `question`, `praise`, `other` |
| `sentiment` | `negative`, `neutral` or `positive`                           |
| `urgency`   | 0-3, or `low`, `normal`, `high`, `critical`                    |
| `dm`        | true or false                                                 |

The latest correction of a field wins. A care-label record (LABELLING.md) is the model's answer
at arrival with the corrected fields replaced; `corrected` lists which fields an agent set.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from model.labels import INTENT_OTHER, INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS, primary_intent

INBOX_TABLE = "inbox_items"
FEEDBACK_TABLE = "feedback"
"""Table names of the inbox store (serving/store); training reflects them by these names."""

FEEDBACK_FIELDS: tuple[str, ...] = ("intent", "sentiment", "urgency", "dm")
MAX_AGENT_CHARS = 64


class FeedbackError(ValueError):
    """A correction that cannot be used; `code` is stable, the message never quotes the value."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def normalise_value(field: str, value: Any) -> Any:
    """The canonical value of a correction: intent -> sorted tag list, sentiment -> label,
    urgency -> level 0-3, dm -> bool. Raises `FeedbackError` for anything else."""
    if field not in FEEDBACK_FIELDS:
        raise FeedbackError("unknown_field", f"field must be one of {', '.join(FEEDBACK_FIELDS)}")
    if field == "intent":
        if isinstance(value, str):
            if value == INTENT_OTHER:
                return []
            value = [value]
        if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
            raise FeedbackError("invalid_value", "intent must be a list of tags or one intent label")
        if any(tag not in INTENT_TAGS for tag in value) or len(set(value)) != len(value):
            raise FeedbackError("invalid_value", f"intent tags must be distinct, among {', '.join(INTENT_TAGS)}")
        return [tag for tag in INTENT_TAGS if tag in value]
    if field == "sentiment":
        if not isinstance(value, str) or value not in SENTIMENTS:
            raise FeedbackError("invalid_value", f"sentiment must be one of {', '.join(SENTIMENTS)}")
        return value
    if field == "urgency":
        if isinstance(value, str) and value in URGENCY_LEVELS:
            return URGENCY_LEVELS.index(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(URGENCY_LEVELS):
            return value
        raise FeedbackError("invalid_value", "urgency must be a level 0-3 or low, normal, high, critical")
    if not isinstance(value, bool):
        raise FeedbackError("invalid_value", "dm must be true or false")
    return value


def latest_corrections(rows: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """(field, canonical value) pairs, oldest first -> the latest value of each field."""
    latest: dict[str, Any] = {}
    for field, value in rows:
        latest[field] = value
    return latest


def care_label_record(tweet_id: str, text: str, result: Mapping[str, Any], corrections: Mapping[str, Any]) -> dict[str, Any]:
    """The LABELLING.md record of a tweet: the model's answer `result` (output contract) with the
    agents' `corrections` (field -> canonical value) applied. `corrected` lists the fields set by
    agents; the others are the model's answer that the agents left as it was."""
    tags = list(corrections["intent"]) if "intent" in corrections else list(result["intent"]["tags"])
    sentiment = corrections.get("sentiment", result["sentiment"]["label"])
    urgency = corrections.get("urgency", result["urgency"]["level"])
    dm = corrections.get("dm", result["dm"]["suggest"])
    return {
        "id": tweet_id,
        "text": text,
        "source": "feedback",
        **{tag: int(tag in tags) for tag in INTENT_TAGS},
        "intent": primary_intent(tags),
        "sentiment": sentiment,
        "urgency": int(urgency),
        "dm": int(bool(dm)),
        "corrected": [field for field in FEEDBACK_FIELDS if field in corrections],
    }
