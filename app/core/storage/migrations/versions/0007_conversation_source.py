"""Where a conversation's requests come from: the chat window, or a tool on the local endpoint.

Every existing conversation was started in the chat window, so the server default makes it one.

Revision ID: 0007_conversation_source
Revises: 0006_crash_recovery
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_conversation_source"
down_revision = "0006_crash_recovery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("source", sa.Text(), nullable=False, server_default="chat"))
        batch.create_index("ix_conversations_source", ["source"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_source")
        batch.drop_column("source")
