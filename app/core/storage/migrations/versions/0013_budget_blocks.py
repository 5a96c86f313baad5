"""A budget can refuse requests once it is reached, not only warn about them.

``block`` (false for every existing budget, so nothing changes for them) marks a budget that
stops sending at 100%: the pre-send check refuses a request once its period's spend has reached
the limit, like LiteLLM's ``max_budget``.

Revision ID: 0013_budget_blocks
Revises: 0012_conversation_list_order
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_budget_blocks"
down_revision = "0012_conversation_list_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("budgets") as batch:
        batch.add_column(
            sa.Column("block", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("budgets") as batch:
        batch.drop_column("block")
