"""Keyset paging reaches every row exactly once, in order, for every sort."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core import conversations
from app.core.ledger import demo_data, entries, export
from app.core.ledger.browse import SORTABLE, Totals, page, totals
from app.core.ledger.selection import Selection
from app.core.ledger.spend import ledger_counts
from app.core.money import from_micros
from app.core.pricing.units import Kind
from app.core.storage.db import Database
from app.core.storage.models import Transaction
from tests.factories import spend


@pytest.fixture
def filled(db: Database) -> Database:
    with db.write() as session:
        demo_data.fill(session, 1_200, 10)
        entries.add_credits(session, Decimal(7))  # rows without provider or model
    return db


@pytest.mark.parametrize("sort", SORTABLE)
@pytest.mark.parametrize("descending", [True, False])
def test_every_row_once_in_order(filled: Database, sort: str, descending: bool) -> None:
    seen: list[int] = []
    keys: list[tuple[object, int]] = []
    with filled.read() as session:
        total = session.scalar(select(func.count()).select_from(Transaction))
        after = None
        while rows := page(
            session, Selection(), sort=sort, descending=descending, after=after, limit=97
        ):
            seen += [r.id for r in rows]
            keys += [
                (
                    (getattr(r, sort) or "") if sort in ("provider", "model") else getattr(r, sort),
                    r.id,
                )
                for r in rows
            ]
            after = rows[-1].sort_key(sort)
    assert len(seen) == len(set(seen)) == total
    assert keys == sorted(keys, reverse=descending)


def test_filters_and_totals(filled: Database) -> None:
    selection = Selection(
        models=frozenset({"gpt-4o"}), token_types=frozenset({"completion"}), estimated=False
    )
    with filled.read() as session:
        rows = page(session, selection, limit=10_000)
        summed = totals(session, selection)
        credits = totals(session, Selection(token_types=frozenset({"credits"})))
        with pytest.raises(ValueError):
            page(session, Selection(), sort="context")
    assert rows and all(
        r.model == "gpt-4o" and r.token_type == "completion" and not r.estimated for r in rows
    )
    assert summed.transactions == len(rows)
    assert summed.spent == -sum(r.token_value for r in rows)
    assert credits.credited > 0 and credits.spent == 0


def _counted_in_the_ledger(session: Session, selection: Selection) -> Totals:
    credits = Transaction.token_type == "credits"
    count, spent, credited = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Transaction.token_value).filter(~credits), 0),
            func.coalesce(func.sum(Transaction.token_value).filter(credits), 0),
        ).where(*selection.transaction_clauses())
    ).one()
    return Totals(count, -Decimal(spent), Decimal(credited))


@pytest.mark.parametrize(
    "selection",
    [
        Selection(),
        Selection(since=date.today() - timedelta(days=3)),
        Selection(until=date.today() - timedelta(days=2), providers=frozenset({"openai"})),
        Selection(models=frozenset({"gpt-4o", "claude-sonnet-4"})),
        Selection(token_types=frozenset({"credits", "prompt"})),
        Selection(kinds=frozenset({Kind.CACHE_READ})),
    ],
)
def test_totals_the_daily_rollup_answers_match_the_ledgers_own_count(
    filled: Database, selection: Selection
) -> None:
    with filled.read() as session:
        assert ledger_counts(session, selection) is not None  # daily_totals answered
        assert totals(session, selection) == _counted_in_the_ledger(session, selection)


def test_a_source_filter_keeps_that_sources_conversations(db: Database) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title="Chat").id
        curl = conversations.for_source(session, "curl")
        zed = conversations.for_source(session, "Zed")
        for owner, prompt in ((chat, 100), (curl, 200), (zed, 300), (curl, 50), (None, 70)):
            entries.spend_tokens(session, replace(spend(prompt, 10), conversation_id=owner))
        entries.add_credits(session, Decimal(1_000_000))  # a top-up comes from no source
    raw = """
        SELECT COUNT(*), -SUM(t.token_value) FROM transactions t
        JOIN conversations c ON c.id = t.conversation_id WHERE c.source IN ({})
    """
    with db.read() as session:
        for chosen in ({"chat"}, {"curl"}, {"curl", "Zed"}):
            selection = Selection(sources=frozenset(chosen))
            rows = page(session, selection, limit=1000)
            summed = totals(session, selection)
            count, spent = (
                session.connection()
                .exec_driver_sql(raw.format(", ".join("?" * len(chosen))), tuple(chosen))
                .one()
            )
            assert summed == Totals(count, from_micros(spent), Decimal(0)), chosen
            assert {r.conversation_id for r in rows} <= {chat, curl, zed}
            assert len(rows) == count
        assert totals(session, Selection()).transactions == 11  # 5 requests x 2 rows + 1 top-up
        by_title = page(session, Selection(sources=frozenset({"curl"})), limit=1000)
    assert {r.conversation_title for r in by_title} == {"curl (local endpoint)"}


def test_export_follows_the_source_filter(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        curl = conversations.for_source(session, "curl")
        entries.spend_tokens(session, replace(spend(200, 10), conversation_id=curl))
        entries.spend_tokens(session, spend(100, 10))  # outside any conversation
    target = tmp_path / "curl.csv"
    with db.read() as session:
        written = export.export(session, target, Selection(sources=frozenset({"curl"})))
    with target.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert written == len(records) == 2
    assert {r["conversation_id"] for r in records} == {str(curl)}
