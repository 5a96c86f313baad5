"""A conversation's running cost is looked up by its id, not found by a scan.

``conversation_days``' key starts with the day, so the conversation list's cost of each
conversation (a correlated sum over that conversation's rows) scanned the whole table once per
conversation: quadratic, hours on a ledger of 50,000 conversations. An index on
``(conversation_id, value)`` answers each sum from the index alone.

Revision ID: 0011_conversation_cost_index
Revises: 0010_positive_rollup_counts
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0011_conversation_cost_index"
down_revision = "0010_positive_rollup_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_conversation_days_conversation", "conversation_days", ["conversation_id", "value"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_days_conversation", table_name="conversation_days")
