"""Budgets (daily/monthly, overall, per provider or model) and the log of alerts raised.

Revision ID: 0004_budgets_and_alerts
Revises: 0003_request_journal
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_budgets_and_alerts"
down_revision = "0003_request_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("limit", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alert_log",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("alert_log")
    op.drop_table("budgets")
