"""The conversation list reads its pages in the order of an index, not after sorting them all.

The list shows a source's conversations most recent first, a page at a time (keyset on
``(updated_at, id)``). Without an index in that order SQLite computed every conversation's cost
and sorted all of them to return the first 200; ``(source, updated_at, id)`` hands them over in
order, so a page costs its own rows. It starts with ``source``, so it also answers every lookup by
source that ``ix_conversations_source`` did, and replaces it.

Revision ID: 0012_conversation_list_order
Revises: 0011_conversation_cost_index
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0012_conversation_list_order"
down_revision = "0011_conversation_cost_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversations_recent", "conversations", ["source", "updated_at", "id"])
    op.drop_index("ix_conversations_source", table_name="conversations")


def downgrade() -> None:
    op.create_index("ix_conversations_source", "conversations", ["source"])
    op.drop_index("ix_conversations_recent", table_name="conversations")
