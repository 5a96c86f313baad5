"""The ledger beside a provider's records: every status, the 1% / one-cent rule, model names
matched as the price table resolves them, totals (a real ledger file, fixed provider records)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from app.core.ledger import entries
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.reconcile.compare import EVERY_MODEL, Reconciliation, Status, reconcile
from app.core.reconcile.records import ProviderDay, ProviderRecords
from app.core.storage.db import Database
from tests.factories import rates
from tests.support.fixed_usage import billed

DAY = date(2026, 11, 3)
NEXT = date(2026, 11, 4)


def meter(
    db: Database,
    day: date,
    model: str = "gpt-4o",
    prompt: int = 400_000,
    completion: int = 100_000,
    *,
    provider: str = "openai",
    cached: int = 0,
) -> None:
    """A metered request: at 2.5 and 10 credits a token, the defaults cost $2.00."""
    with db.write() as session:
        usage = TokenUsage(prompt, completion, cache_read_tokens=cached)
        model_rates = rates("2.5", "10", cache_read="1.25", model=model)
        entries.spend_tokens(
            session,
            entries.Spend(provider, model, usage, model_rates),
            now=datetime.combine(day, datetime.min.time()).replace(hour=9),
        )


def compared(db: Database, *days: ProviderDay, provider: str = "openai") -> Reconciliation:
    records = ProviderRecords(provider, DAY, NEXT, days)
    with db.read() as session:
        return reconcile(session, records, PriceBook.load(session))


def test_a_dated_snapshot_and_its_alias_are_one_row(db: Database) -> None:
    meter(db, DAY)
    (row,) = compared(db, billed(DAY, "gpt-4o-2024-08-06", "2.00", 400_000, 100_000)).rows
    assert (row.day, row.model, row.status) == (DAY, "gpt-4o", Status.MATCH)
    assert row.ledger.usd == Decimal("2") and row.provider.usd == Decimal("2.00")
    assert row.difference_usd == 0


def test_a_snapshot_priced_apart_is_its_own_row(db: Database) -> None:
    meter(db, DAY)
    rows = compared(db, billed(DAY, "gpt-4o-2024-05-13", "2.00", 400_000, 100_000)).rows
    assert {(r.model, r.status) for r in rows} == {
        ("gpt-4o", Status.MISSING),
        ("gpt-4o-2024-05-13", Status.OUTSIDE),
    }


def test_within_one_percent_is_a_match_and_beyond_it_a_drift(db: Database) -> None:
    meter(db, DAY)  # $2.00: 1% is two cents
    assert compared(db, billed(DAY, "gpt-4o", "2.02")).rows[0].status is Status.MATCH
    assert compared(db, billed(DAY, "gpt-4o", "1.98")).rows[0].status is Status.MATCH
    drift = compared(db, billed(DAY, "gpt-4o", "2.03")).rows[0]
    assert drift.status is Status.DRIFT and drift.difference_usd == Decimal("0.03")


def test_within_a_cent_is_a_match_however_small_the_day(db: Database) -> None:
    meter(db, DAY, prompt=1000, completion=0)  # $0.0025
    assert compared(db, billed(DAY, "gpt-4o", "0.0125")).rows[0].status is Status.MATCH
    assert compared(db, billed(DAY, "gpt-4o", "0.0126")).rows[0].status is Status.DRIFT


def test_tokens_are_compared_where_the_provider_gives_no_money(db: Database) -> None:
    meter(db, DAY, prompt=100_000, completion=10_000, cached=50_000)  # 150,000 in, cache included
    (row,) = compared(db, billed(DAY, "gpt-4o", None, 150_500, 10_000, 50_000)).rows
    assert row.status is Status.MATCH and row.provider.usd is None and row.difference_usd is None
    assert (row.ledger.input_tokens, row.ledger.output_tokens) == (150_000, 10_000)
    (row,) = compared(db, billed(DAY, "gpt-4o", None, 150_000, 10_200)).rows
    assert row.status is Status.DRIFT  # 2% more output


def test_spend_only_the_provider_saw_is_outside(db: Database) -> None:
    (row,) = compared(db, billed(NEXT, "o3", "1.25", 1000, 2000)).rows
    assert (row.model, row.status, row.ledger.usd) == ("o3", Status.OUTSIDE, Decimal(0))


def test_spend_the_provider_does_not_show_is_missing_at_nothing(db: Database) -> None:
    meter(db, DAY, "gpt-4o-mini")
    rows = compared(db, billed(DAY, "gpt-4o", "1.00", 10, 10)).rows
    missing = next(r for r in rows if r.model == "gpt-4o-mini")
    assert missing.status is Status.MISSING
    assert missing.provider.usd == 0 and missing.difference_usd == -Decimal("2")


def test_empty_buckets_and_other_providers_make_no_rows(db: Database) -> None:
    meter(db, DAY, "claude-sonnet-4-5", provider="anthropic")
    meter(db, date(2026, 10, 1))  # before the range
    assert compared(db, billed(DAY, "gpt-4o", "0", 0, 0)).rows == ()


def test_totals_add_every_row(db: Database) -> None:
    meter(db, DAY)
    meter(db, NEXT, "gpt-4o-mini", prompt=4000, completion=1000)  # $0.02
    result = compared(
        db,
        billed(DAY, "gpt-4o-2024-08-06", "2.10", 400_000, 100_000),
        billed(NEXT, "o3", "0.50", 100, 200),
    )
    assert [r.status for r in result.rows] == [Status.DRIFT, Status.MISSING, Status.OUTSIDE]
    totals = result.totals
    assert totals.ledger.usd == Decimal("2.02") and totals.provider.usd == Decimal("2.60")
    assert totals.difference_usd == Decimal("0.58")
    assert totals.provider.input_tokens == 400_100 and totals.ledger.output_tokens == 101_000
    assert result.counts() == {
        Status.MATCH: 0,
        Status.DRIFT: 1,
        Status.OUTSIDE: 1,
        Status.MISSING: 1,
    }


def test_a_day_reported_as_a_whole_sums_the_ledger_models_of_that_day(db: Database) -> None:
    meter(db, DAY)
    meter(db, DAY, "gpt-4o-mini", prompt=4000, completion=1000)  # $0.02
    meter(db, NEXT, "gpt-4o-mini", prompt=4000, completion=1000)
    rows = compared(db, billed(DAY, EVERY_MODEL, "2.02")).rows
    assert [(r.day, r.model, r.status) for r in rows] == [
        (DAY, EVERY_MODEL, Status.MATCH),
        (NEXT, "gpt-4o-mini", Status.MISSING),
    ]
    assert rows[0].ledger.usd == Decimal("2.02")


def test_money_on_no_model_is_kept_beside_the_rows(db: Database) -> None:
    records = ProviderRecords(
        "openai",
        DAY,
        NEXT,
        (billed(DAY, "o3", "1"),),
        unattributed_usd=((DAY, Decimal("0.30")), (NEXT, Decimal("0.05"))),
    )
    with db.read() as session:
        result = reconcile(session, records, PriceBook.load(session))
    assert result.unattributed_usd == Decimal("0.35")
    assert result.totals.provider.usd == Decimal("1")
