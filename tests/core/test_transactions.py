"""Keyset paging reaches every row exactly once, in order, for every sort."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core import demo_data, ledger
from app.core.db import Database
from app.core.models import Transaction
from app.core.transactions import SORTABLE, Filter, page, totals


@pytest.fixture
def filled(db: Database) -> Database:
    with db.write() as session:
        demo_data.fill(session, 1_200, 10)
        ledger.add_credits(session, Decimal(7))  # rows without provider or model
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
            session, Filter(), sort=sort, descending=descending, after=after, limit=97
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
    selection = Filter(
        models=frozenset({"gpt-4o"}), token_types=frozenset({"completion"}), estimated=False
    )
    with filled.read() as session:
        rows = page(session, selection, limit=10_000)
        summed = totals(session, selection)
        credits = totals(session, Filter(token_types=frozenset({"credits"})))
        with pytest.raises(ValueError):
            page(session, Filter(), sort="context")
    assert rows and all(
        r.model == "gpt-4o" and r.token_type == "completion" and not r.estimated for r in rows
    )
    assert summed.transactions == len(rows)
    assert summed.spent == -sum(r.token_value for r in rows)
    assert credits.credited > 0 and credits.spent == 0
