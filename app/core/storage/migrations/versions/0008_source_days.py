"""Spend per source and day, kept like the other aggregates, for the dashboard's source filter.

Filled from ``conversation_days`` and each conversation's source: the same sums, regrouped.

Revision ID: 0008_source_days
Revises: 0007_conversation_source
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_source_days"
down_revision = "0007_conversation_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("uncached", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "source", "provider", "model"),
    )
    op.execute(
        """
        INSERT INTO source_days (day, source, provider, model, prompt_tokens, completion_tokens,
            cache_write_tokens, cache_read_tokens, value, uncached)
        SELECT d.day, c.source, d.provider, d.model, SUM(d.prompt_tokens),
               SUM(d.completion_tokens), SUM(d.cache_write_tokens), SUM(d.cache_read_tokens),
               SUM(d.value), SUM(d.uncached)
        FROM conversation_days d JOIN conversations c ON c.id = d.conversation_id
        GROUP BY d.day, c.source, d.provider, d.model
        """
    )


def downgrade() -> None:
    op.drop_table("source_days")
