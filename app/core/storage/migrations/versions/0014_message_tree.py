"""A conversation's messages form a tree, and the branch it shows is stored.

Each message gets its ``parent`` (the message it follows) and ``on_branch`` (it is on the branch
the conversation shows and sends as context). Until now a retry hid the reply it replaced (its
cost stayed in the total, the reply was gone) and a conversation was its visible messages in
order. So every visible message follows the visible one before it (a chain, all on the branch),
and a hidden reply that was charged (a retried attempt) becomes visible again as a sibling of its
replacement: it answers the last visible message of the user before it, off the branch. Hidden
messages that were never charged (a request that got no reply) stay hidden.

Each step is one statement over the table (a window function for the chain; the charged hidden
replies found through the conversation's index on ``transactions``): no table is copied. The
index on ``(conversation_id, on_branch)`` replaces the one on ``conversation_id``: the branch
shown is read in the order of its ids, and the few messages off it are found apart.

Revision ID: 0014_message_tree
Revises: 0013_budget_blocks
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_message_tree"
down_revision = "0013_budget_blocks"
branch_labels = None
depends_on = None

_CHAIN = """
UPDATE messages SET parent_id = chain.previous
FROM (
    SELECT id, LAG(id) OVER (PARTITION BY conversation_id ORDER BY id) AS previous
    FROM messages WHERE deleted_at IS NULL
) AS chain
WHERE messages.id = chain.id
"""
_ATTEMPTS = """
UPDATE messages SET
    parent_id = (
        SELECT MAX(asked.id) FROM messages AS asked
        WHERE asked.conversation_id = messages.conversation_id AND asked.id < messages.id
          AND asked.role = 'user' AND asked.deleted_at IS NULL
    ),
    deleted_at = NULL
WHERE deleted_at IS NOT NULL AND role = 'assistant' AND EXISTS (
    SELECT 1 FROM transactions AS t
    WHERE t.conversation_id = messages.conversation_id AND t.message_id = messages.id
)
"""


def upgrade() -> None:
    run = op.get_bind().exec_driver_sql
    # SQLite adds a column that references another table in place (alembic's add_column would
    # copy the whole table to add its foreign key).
    run("ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages (id)")
    op.add_column(
        "messages",
        sa.Column("on_branch", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    run(_CHAIN)
    run("UPDATE messages SET on_branch = 0 WHERE deleted_at IS NOT NULL")
    run(_ATTEMPTS)
    op.create_index("ix_messages_parent", "messages", ["parent_id", "conversation_id"])
    # The branch shown is read in the order of its ids, and the few messages off it apart.
    op.create_index("ix_messages_branch", "messages", ["conversation_id", "on_branch"])
    op.drop_index("ix_messages_conversation_id", table_name="messages")


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "UPDATE messages SET deleted_at = created_at WHERE NOT on_branch AND deleted_at IS NULL"
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id"])
    op.drop_index("ix_messages_branch", table_name="messages")
    op.drop_index("ix_messages_parent", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("on_branch")
        batch.drop_column("parent_id")
