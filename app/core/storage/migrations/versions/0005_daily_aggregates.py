"""Daily aggregates (per day, provider, model, token type) and per-conversation days, backfilled.

Revision ID: 0005_daily_aggregates
Revises: 0004_budgets_and_alerts
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_daily_aggregates"
down_revision = "0004_budgets_and_alerts"
branch_labels = None
depends_on = None

# What a cache row would have cost at the plain input rate of its request (the prompt row's
# rate); amounts are integers of millionths, so the product is divided by 10^6, exactly.
_UNCACHED = """
CASE WHEN t.token_type IN ('cache_read', 'cache_write') THEN
    COALESCE(t.raw_amount * (SELECT p.rate FROM transactions p
                             WHERE p.request_id = t.request_id AND p.token_type = 'prompt'
                             LIMIT 1) / 1000000, t.token_value)
ELSE t.token_value END
"""


def upgrade() -> None:
    op.create_table(
        "daily_totals",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("uncached", sa.BigInteger(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "provider", "model", "token_type"),
    )
    op.create_table(
        "conversation_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("uncached", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("day", "conversation_id", "provider", "model"),
    )
    op.execute(
        f"""
        INSERT INTO daily_totals (day, provider, model, token_type, tokens, value, uncached, transactions)
        SELECT substr(t.created_at, 1, 10), COALESCE(t.provider, ''), COALESCE(t.model, ''), t.token_type,
               SUM(t.raw_amount), SUM(t.token_value), SUM({_UNCACHED}), COUNT(*)
        FROM transactions t
        GROUP BY substr(t.created_at, 1, 10), COALESCE(t.provider, ''), COALESCE(t.model, ''), t.token_type
        """
    )
    op.execute(
        f"""
        INSERT INTO conversation_days (day, conversation_id, provider, model, prompt_tokens,
            completion_tokens, cache_write_tokens, cache_read_tokens, value, uncached)
        SELECT substr(t.created_at, 1, 10), t.conversation_id, COALESCE(t.provider, ''), COALESCE(t.model, ''),
               -SUM(CASE WHEN t.token_type = 'prompt' THEN t.raw_amount ELSE 0 END) / 1000000,
               -SUM(CASE WHEN t.token_type = 'completion' THEN t.raw_amount ELSE 0 END) / 1000000,
               -SUM(CASE WHEN t.token_type = 'cache_write' THEN t.raw_amount ELSE 0 END) / 1000000,
               -SUM(CASE WHEN t.token_type = 'cache_read' THEN t.raw_amount ELSE 0 END) / 1000000,
               SUM(t.token_value), SUM({_UNCACHED})
        FROM transactions t
        WHERE t.conversation_id IS NOT NULL
        GROUP BY substr(t.created_at, 1, 10), t.conversation_id, COALESCE(t.provider, ''), COALESCE(t.model, '')
        """
    )


def downgrade() -> None:
    op.drop_table("conversation_days")
    op.drop_table("daily_totals")
