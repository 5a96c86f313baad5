"""Journal requests before they are sent: a status and the prompt cost held while pending.

Revision ID: 0003_request_journal
Revises: 0002_estimates_and_trimming
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_request_journal"
down_revision = "0002_estimates_and_trimming"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="complete")
        )
        batch.add_column(sa.Column("hold", sa.BigInteger(), nullable=False, server_default="0"))
        batch.create_index("ix_requests_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_status")
        batch.drop_column("hold")
        batch.drop_column("status")
