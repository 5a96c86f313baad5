"""Keep how each pre-send count was made; let a conversation drop its oldest messages.

Revision ID: 0002_estimates_and_trimming
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_estimates_and_trimming"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("estimate_method", sa.String(length=64), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("drop_oldest", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("drop_oldest")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("estimate_method")
