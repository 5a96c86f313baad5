"""Initial schema: conversations, messages, requests, transactions, balance, prices, settings.

Amount columns (raw_amount, rate, token_value, credits...) are integers of millionths.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "balance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("start_balance", sa.BigInteger(), nullable=False),
        sa.Column("start_balance_granted", sa.Boolean(), nullable=False),
        sa.Column("auto_refill_enabled", sa.Boolean(), nullable=False),
        sa.Column("refill_amount", sa.BigInteger(), nullable=False),
        sa.Column("refill_interval_value", sa.Integer(), nullable=False),
        sa.Column("refill_interval_unit", sa.String(length=16), nullable=False),
        sa.Column("last_refill_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO balance (id, credits, enabled, start_balance, start_balance_granted, "
        "auto_refill_enabled, refill_amount, refill_interval_value, refill_interval_unit) "
        "VALUES (1, 0, 0, 0, 0, 0, 0, 1, 'days')"
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "price_overrides",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_rate", sa.BigInteger(), nullable=True),
        sa.Column("completion_rate", sa.BigInteger(), nullable=True),
        sa.Column("cache_write_rate", sa.BigInteger(), nullable=True),
        sa.Column("cache_read_rate", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=False),
        sa.Column("estimated_prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("reported_prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("usage_estimated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("raw_amount", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.BigInteger(), nullable=False),
        sa.Column("token_value", sa.BigInteger(), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("rate_source", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index("ix_transactions_conversation", ["conversation_id"], unique=False)
        batch_op.create_index("ix_transactions_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transactions_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_request_id"))
        batch_op.drop_index("ix_transactions_created")
        batch_op.drop_index("ix_transactions_conversation")

    op.drop_table("transactions")
    op.drop_table("requests")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_conversation_id"))

    op.drop_table("messages")
    op.drop_table("settings")
    op.drop_table("price_overrides")
    op.drop_table("conversations")
    op.drop_table("balance")
