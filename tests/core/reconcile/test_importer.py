"""Importing outside spend: at the provider's figure (or priced from its tokens), once per day
and model, a later larger figure only by its difference; the balance and the rollups follow."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from app.core.ledger import entries, spend
from app.core.ledger.selection import Selection
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.reconcile.compare import Reconciliation, Status, reconcile
from app.core.reconcile.importer import CONTEXT, Imported, import_outside
from app.core.reconcile.records import ProviderDay, ProviderRecords
from app.core.storage.db import Database
from app.core.storage.models import Conversation, Request, Transaction
from tests.support.fixed_usage import billed

DAY = date(2026, 11, 3)
USD = 1_000_000  # credits


def run(db: Database, *days: ProviderDay) -> tuple[Imported, Reconciliation]:
    """Import what ``days`` show outside the ledger, then reconcile again."""
    records = ProviderRecords("openai", DAY, DAY, days)
    with db.write() as session:
        book = PriceBook.load(session)
        done = import_outside(session, reconcile(session, records, book))
        return done, reconcile(session, records, book)


def balance(db: Database) -> Decimal:
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)
        return entries.current_balance(session)


def test_outside_spend_is_recorded_at_the_provider_figure(db: Database) -> None:
    done, after = run(db, billed(DAY, "gpt-4o-2024-08-06", "1.25", 1000, 500, 200))
    assert done == Imported(1, Decimal("1.25") * USD)
    assert balance(db) == -Decimal("1.25") * USD
    (row,) = after.rows
    assert row.status is Status.OUTSIDE  # still what it was: the ledger did not meter it
    assert row.imported.usd == Decimal("1.25") and row.ledger.usd == 0
    assert (row.imported.input_tokens, row.imported.cached_input_tokens) == (1000, 200)
    with db.read() as session:
        request = session.scalars(select(Request)).one()
        assert (request.context, request.provider, request.model) == (CONTEXT, "openai", "gpt-4o")
        assert request.usage_estimated is False
        assert request.provider_cost == Decimal("1.25") * USD
        assert request.created_at == datetime(2026, 11, 3)
        sources = session.scalars(select(Conversation.source)).all()
        assert sources == ["openai usage"]
        flags = session.scalars(select(Transaction.estimated)).all()
        assert not any(flags)
        reported = session.scalars(select(Transaction.rate_source)).all()
        assert "reported by openai usage" in reported
        # the rollups: the day's spend and the source's
        day = spend.rows(session, Selection(since=DAY, until=DAY), (spend.By.MODEL,))
        assert [(r.model, r.cost) for r in day] == [("gpt-4o", Decimal("1.25") * USD)]
        assert spend.total(session, Selection(sources=frozenset({"openai usage"}))) == (
            Decimal("1.25") * USD
        )


def test_importing_again_adds_nothing(db: Database) -> None:
    shown = billed(DAY, "o3", "0.40", 100, 100)
    run(db, shown)
    again, _ = run(db, shown)
    assert again == Imported(0, Decimal(0))
    assert balance(db) == -Decimal("0.40") * USD
    with db.read() as session:
        assert len(session.scalars(select(Request)).all()) == 1


def test_a_later_larger_figure_adds_only_the_difference(db: Database) -> None:
    run(db, billed(DAY, "o3", "0.40", 100, 100))
    later, after = run(db, billed(DAY, "o3", "0.65", 180, 150))
    assert later == Imported(1, Decimal("0.25") * USD)
    assert balance(db) == -Decimal("0.65") * USD
    (row,) = after.rows
    assert row.imported.usd == Decimal("0.65") and row.imported.input_tokens == 180


def test_tokens_only_spend_is_priced_from_its_tokens(db: Database) -> None:
    done, _ = run(db, billed(DAY, "gpt-4o", None, 1_000_000, 100_000))
    with db.read() as session:
        rates = PriceBook.load(session).rates("gpt-4o", at=datetime(2026, 11, 3))
        request = session.scalars(select(Request)).one()
        assert request.provider_cost is None
    expected = 1_000_000 * rates.prompt + 100_000 * rates.completion
    assert done == Imported(1, expected) and balance(db) == -expected
    again, _ = run(db, billed(DAY, "gpt-4o", None, 1_000_000, 100_000))
    assert again.requests == 0
    more, _ = run(db, billed(DAY, "gpt-4o", None, 1_000_000, 150_000))
    assert more == Imported(1, 50_000 * rates.completion)


def test_only_outside_rows_are_imported(db: Database) -> None:
    with db.write() as session:
        book = PriceBook.load(session)
        metered = book.rates("gpt-4o")
        entries.spend_tokens(
            session,
            entries.Spend("openai", "gpt-4o", TokenUsage(1000, 100), metered),
            now=datetime(2026, 11, 3, 9),
        )
    before = balance(db)
    done, after = run(db, billed(DAY, "gpt-4o", "5.00", 1000, 100))
    assert after.rows[0].status is Status.DRIFT
    assert done.requests == 0 and balance(db) == before
