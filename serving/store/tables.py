"""The inbox store's tables (SQLAlchemy Core). The schema is created and changed by the Alembic
migrations in `migrations/`, never by `metadata.create_all`; a new column means a new migration.

Timestamps are ISO 8601 UTC strings (`2026-11-23T10:42:00Z`): they sort as text and read the same
on SQLite and PostgreSQL. Only what the inbox and the feedback loop need is kept: the text as
received (agents read it, training learns from it), its creation time and language, and the
model's answer; the thread's earlier turns and the author's reach are used for scoring and dropped.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from model.feedback import FEEDBACK_TABLE, INBOX_TABLE

metadata = MetaData()

inbox_items = Table(
    INBOX_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tweet_id", String(128), nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("lang", String(16)),
    Column("created_at", String(32)),  # the tweet's own time, when the client gave it
    Column("received_at", String(32), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("result", Text, nullable=False),  # the output contract as JSON, explanation and redacted text included
    # Copied out of `result` to filter and sort in SQL:
    Column("rank", String(2), nullable=False),
    Column("priority_score", Integer, nullable=False),
    Column("respond_by", String(32), nullable=False),
    Column("intent_label", String(16), nullable=False),
    Column("intent_tags", String(64), nullable=False),  # ",complaint,question," (LIKE-able)
    Column("dm_suggest", Boolean, nullable=False),
    Column("status", String(8), nullable=False),  # open | handled
    Column("handled_at", String(32)),
    Column("handled_by", String(64)),
    # model.priority.inputs_to_json: what the policy ranks with (no text), to re-rank as time passes
    Column("priority_inputs", Text),
)
Index("ix_inbox_queue", inbox_items.c.status, inbox_items.c.rank, inbox_items.c.respond_by)

feedback = Table(
    FEEDBACK_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "tweet_id",
        String(128),
        ForeignKey(f"{INBOX_TABLE}.tweet_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("field", String(16), nullable=False),
    Column("value", Text, nullable=False),  # canonical value as JSON (model.feedback.normalise_value)
    Column("agent", String(64), nullable=False),
    Column("client", String(64), nullable=False),  # serving.security.Client.id: a key digest prefix
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("client", "idempotency_key", name="uq_feedback_idempotency"),
)
