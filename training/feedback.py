"""Agents' corrections as training data: `triage train --with-feedback DB_URL` (or an export file).

Reads the inbox store's two tables by reflection (their names come from `model.feedback`): this
package never imports `serving` (DESIGN.md: imports flow training -> model <- serving). The
source may also be a JSON Lines file written by `GET /v1/feedback/export`.

How corrections enter training (`training.corpus.build_training_set`):
- a corrected tweet that is in `care/train` keeps its row, with the corrected fields replacing our
  labels ("corrections override our labels for the same tweet");
- any other corrected tweet becomes a new row labelled for the corrected heads only (the model's
  own answer is never fed back as a label);
- tweets of `care/val` are left out (we report on them), and counted;
- corrected rows weigh `weight` (default 3, like our care tweets' sentiment weight): an agent's
  correction is a verified, in-domain label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.feedback import (
    FEEDBACK_FIELDS,
    FEEDBACK_TABLE,
    INBOX_TABLE,
    FeedbackError,
    latest_corrections,
    normalise_value,
)
from model.labels import INTENT_TAGS

DEFAULT_FEEDBACK_WEIGHT = 3.0


class FeedbackSourceError(ValueError):
    """The feedback source cannot be read; one line, without the URL's password."""


@dataclass(frozen=True)
class CorrectedTweet:
    """A tweet and the latest correction of each field agents corrected (canonical values)."""

    tweet_id: str
    text: str
    corrections: dict[str, Any]


@dataclass
class FeedbackSet:
    """Corrected tweets from one source, and how they were used once training has merged them."""

    source: str
    tweets: list[CorrectedTweet]
    corrections: int  # feedback rows read (a field corrected twice counts twice)
    skipped: int = 0  # rows with a value this version cannot read
    weight: float = DEFAULT_FEEDBACK_WEIGHT
    used: dict[str, int] = field(default_factory=dict)  # filled by build_training_set

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "tweets": len(self.tweets), "corrections": self.corrections,
                "skipped": self.skipped, "weight": self.weight, **self.used}


def load_feedback(source: str, weight: float = DEFAULT_FEEDBACK_WEIGHT) -> FeedbackSet:
    """Corrected tweets from a database URL (the inbox store) or an export file (JSON Lines)."""
    if "://" not in source:
        return _from_export(Path(source), weight)
    return _from_database(source, weight)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"


def _from_database(url: str, weight: float) -> FeedbackSet:
    from sqlalchemy import MetaData, create_engine, select
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    safe = _safe_url(url)
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError):
        raise FeedbackSourceError(f"--with-feedback: not a database URL SQLAlchemy can open: {safe}") from None
    try:
        metadata = MetaData()
        metadata.reflect(engine, only=[INBOX_TABLE, FEEDBACK_TABLE])
        inbox, feedback = metadata.tables[INBOX_TABLE], metadata.tables[FEEDBACK_TABLE]
        with engine.connect() as connection:
            rows = connection.execute(
                select(feedback.c.tweet_id, feedback.c.field, feedback.c.value, inbox.c.text)
                .join(inbox, inbox.c.tweet_id == feedback.c.tweet_id)
                .order_by(feedback.c.id)
            ).all()
    except SQLAlchemyError as error:
        raise FeedbackSourceError(
            f"--with-feedback: cannot read the inbox store at {safe} ({type(error).__name__}; "
            f"is it a database the service has used?)"
        ) from None
    finally:
        engine.dispose()
    pairs: dict[str, list[tuple[str, Any]]] = {}
    texts: dict[str, str] = {}
    skipped = 0
    for tweet_id, field_name, raw, text in rows:
        try:
            value = normalise_value(field_name, json.loads(raw))
        except (FeedbackError, ValueError):
            skipped += 1
            continue
        pairs.setdefault(tweet_id, []).append((field_name, value))
        texts[tweet_id] = text
    tweets = [CorrectedTweet(tweet_id, texts[tweet_id], latest_corrections(fields)) for tweet_id, fields in pairs.items()]
    return FeedbackSet(source=safe, tweets=tweets, corrections=len(rows) - skipped, skipped=skipped, weight=weight)


def _from_export(path: Path, weight: float) -> FeedbackSet:
    """Records of `GET /v1/feedback/export`: only the fields listed in `corrected` are used."""
    if not path.is_file():
        raise FeedbackSourceError(f"--with-feedback: {path} is neither a database URL nor a file")
    tweets: list[CorrectedTweet] = []
    corrections = skipped = 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                fixed: dict[str, Any] = {}
                for name in record.get("corrected", []):
                    if name == "intent":
                        value: Any = [tag for tag in INTENT_TAGS if record[tag] == 1]
                    elif name == "dm":
                        value = bool(record["dm"])
                    elif name in FEEDBACK_FIELDS:
                        value = record[name]
                    else:
                        raise FeedbackError("unknown_field", "unknown corrected field")
                    fixed[name] = normalise_value(name, value)
                if not isinstance(record["id"], str) or not isinstance(record["text"], str):
                    raise ValueError
            except (ValueError, KeyError, TypeError, AttributeError):
                raise FeedbackSourceError(f"--with-feedback: {path} line {number} is not an export record") from None
            if fixed:
                tweets.append(CorrectedTweet(record["id"], record["text"], fixed))
                corrections += len(fixed)
    return FeedbackSet(source=str(path), tweets=tweets, corrections=corrections, skipped=skipped, weight=weight)


def apply_corrections(labels: dict[str, Any], corrections: dict[str, Any]) -> dict[str, Any]:
    """Training labels (complaint, question, praise, sentiment, urgency, dm) with corrections applied;
    `labels` may be empty (a new tweet: only the corrected heads get labels)."""
    out = dict(labels)
    if "intent" in corrections:
        for tag in INTENT_TAGS:
            out[tag] = int(tag in corrections["intent"])
    if "sentiment" in corrections:
        out["sentiment"] = corrections["sentiment"]
    if "urgency" in corrections:
        out["urgency"] = int(corrections["urgency"])
    if "dm" in corrections:
        out["dm"] = int(bool(corrections["dm"]))
    return out
