"""Messages carry attachments, and a conversation keeps its model settings.

``attachments`` holds the files a user added to a message (images, PDFs): their bytes, media type
and name, in the order they were added, so a conversation reopened (or sent again as context)
carries them as it was written. ``conversations.model_settings`` is the JSON of the settings the
user chose for the conversation (temperature, max output, reasoning effort, thinking budget);
empty means the provider's defaults. Both are new: nothing existing changes.

Revision ID: 0015_attachments_and_model_settings
Revises: 0014_message_tree
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_attachments_and_model_settings"
down_revision = "0014_message_tree"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_attachments_message", "attachments", ["message_id", "position"])
    op.add_column(
        "conversations",
        sa.Column("model_settings", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("model_settings")
    op.drop_index("ix_attachments_message", table_name="attachments")
    op.drop_table("attachments")
