"""Every count in the rollups is positive: the daily totals' counts of spend turn round.

``daily_totals.tokens`` held ``SUM(raw_amount)``, negative for spend, while ``conversation_days``
and ``source_days`` count tokens positive; now all three do (a top-up's row keeps its credits,
positive already). Money keeps the ledger's sign everywhere, so the balance is still the sum of
``value``. Before the upgrade commits, every row is checked against a copy of the table: the
same rows, each spend row's count the negation of its old one, every other column unchanged,
and the sums of the counts negated. Anything else raises, and the whole upgrade rolls back.

Revision ID: 0010_positive_rollup_counts
Revises: 0009_billed_units
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from app.core.errors import DatabaseError

revision = "0010_positive_rollup_counts"
down_revision = "0009_billed_units"
branch_labels = None
depends_on = None

_SUMS = """
SELECT COUNT(*),
       COALESCE(SUM(CASE WHEN token_type != 'credits' THEN tokens END), 0),
       COALESCE(SUM(CASE WHEN token_type = 'credits' THEN tokens END), 0)
FROM {table}
"""
_KEPT = """
SELECT COUNT(*) FROM daily_totals_before b JOIN daily_totals d
    ON d.day = b.day AND d.provider = b.provider AND d.model = b.model
       AND d.token_type = b.token_type
WHERE d.tokens = CASE WHEN b.token_type = 'credits' THEN b.tokens ELSE -b.tokens END
  AND d.value = b.value AND d.uncached = b.uncached AND d.transactions = b.transactions
"""


def upgrade() -> None:
    _turn_spend_counts_round()


def downgrade() -> None:
    _turn_spend_counts_round()  # its own inverse


def _turn_spend_counts_round() -> None:
    """Negate the count of every spend row of ``daily_totals``, and prove nothing else moved.

    Raises:
        DatabaseError: a row went missing or changed otherwise, or the sums do not match.
    """
    connection = op.get_bind()
    run = connection.exec_driver_sql
    run("CREATE TEMP TABLE daily_totals_before AS SELECT * FROM daily_totals")
    rows, spent, credited = run(_SUMS.format(table="daily_totals_before")).one()
    run("UPDATE daily_totals SET tokens = -tokens WHERE token_type != 'credits'")
    after = tuple(run(_SUMS.format(table="daily_totals")).one())
    kept = run(_KEPT).scalar_one()
    run("DROP TABLE daily_totals_before")
    if after != (rows, -spent, credited) or kept != rows:
        raise DatabaseError(
            f"Turning the daily totals' counts positive would lose or change rows ({rows} rows, "
            f"{kept} kept as they should be; count sums {spent}, {credited} became "
            f"{after[1]}, {after[2]}); the upgrade was rolled back and the ledger left as it was."
        )
