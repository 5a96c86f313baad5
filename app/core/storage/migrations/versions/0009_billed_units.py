"""Every billed unit on the ledger: longer token type names, and what the provider said.

``token_type`` grows from 16 to 40 characters (``cache_write_1h_compaction``, ``flex:prompt``,
``long context:cache_read``); every row is copied as it is. Each request keeps the model it asked
for beside the one that served it, the provider's usage object as it came (JSON), what Tallybook
could not map from it, the service tier, and the two costs: Tallybook's computed figure and the
provider's own where it gave one. Older requests keep NULL in all of these (nothing was known).

Revision ID: 0009_billed_units
Revises: 0008_source_days
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_billed_units"
down_revision = "0008_source_days"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("transactions", "daily_totals"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "token_type",
                existing_type=sa.String(length=16),
                type_=sa.String(length=40),
                existing_nullable=False,
            )
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("requested_model", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("service_tier", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("raw_usage", sa.Text(), nullable=True))
        batch.add_column(sa.Column("usage_notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("computed_cost", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("provider_cost", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for column in (
            "provider_cost",
            "computed_cost",
            "usage_notes",
            "raw_usage",
            "service_tier",
            "requested_model",
        ):
            batch.drop_column(column)
    for table in ("daily_totals", "transactions"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "token_type",
                existing_type=sa.String(length=40),
                type_=sa.String(length=16),
                existing_nullable=False,
            )
