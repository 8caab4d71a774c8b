"""Inbox items and agents' feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tweet_id", sa.String(128), nullable=False, unique=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("lang", sa.String(16)),
        sa.Column("created_at", sa.String(32)),
        sa.Column("received_at", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("rank", sa.String(2), nullable=False),
        sa.Column("priority_score", sa.Integer, nullable=False),
        sa.Column("respond_by", sa.String(32), nullable=False),
        sa.Column("intent_label", sa.String(16), nullable=False),
        sa.Column("intent_tags", sa.String(64), nullable=False),
        sa.Column("dm_suggest", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("handled_at", sa.String(32)),
        sa.Column("handled_by", sa.String(64)),
    )
    op.create_index("ix_inbox_queue", "inbox_items", ["status", "rank", "respond_by"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "tweet_id",
            sa.String(128),
            sa.ForeignKey("inbox_items.tweet_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("client", "idempotency_key", name="uq_feedback_idempotency"),
    )
    op.create_index("ix_feedback_tweet_id", "feedback", ["tweet_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_tweet_id", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_inbox_queue", table_name="inbox_items")
    op.drop_table("inbox_items")
