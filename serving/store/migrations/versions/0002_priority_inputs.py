"""What the priority policy ranked each inbox item with, so that open items are re-ranked as
their customers wait (no tweet text: labels, scores, times, thread authors and reach only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: items stored before this revision keep the rank they were given on arrival.
    with op.batch_alter_table("inbox_items") as batch:
        batch.add_column(sa.Column("priority_inputs", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_items") as batch:
        batch.drop_column("priority_inputs")
