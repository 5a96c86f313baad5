"""The journal's owner and the reply received so far, to charge a crashed request exactly once.

Revision ID: 0006_crash_recovery
Revises: 0005_daily_aggregates
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_crash_recovery"
down_revision = "0005_daily_aggregates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("partial_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("partial_text")
        batch.drop_column("owner")
