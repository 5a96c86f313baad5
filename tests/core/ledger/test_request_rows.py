"""One row per request: every request once, in time order, its figures those of its ledger rows,
and a page read along the time index (no scan, no sort of the whole ledger)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.ledger import demo_data, entries, request_rows
from app.core.ledger.request_rows import TOP_UP, RequestRow
from app.core.ledger.selection import Selection
from app.core.pricing.charges import ProviderFigure
from app.core.pricing.prices import DEFAULT_SOURCE
from app.core.pricing.units import Kind
from app.core.storage.db import Database
from app.core.storage.models import Request, Transaction
from app.core.types import RequestStatus
from tests.factories import rates, spend

NOW = utcnow()


@pytest.fixture
def ledger(db: Database) -> Database:
    """A small demo ledger, and one of each kind of row the view flags."""
    with db.write() as session:
        demo_data.fill(session, 900, 10)
        entries.add_credits(session, Decimal(5_000_000), now=NOW - timedelta(hours=5))
        entries.spend_tokens(
            session,
            spend(1000, 200, cache_read_tokens=600, model_rates=rates(model="cached-model")),
            now=NOW - timedelta(hours=4),
        )
        unknown = rates("10", "30", model="gpt-4o-mini@slow", source=DEFAULT_SOURCE)
        entries.spend_tokens(session, spend(4303, 50, model_rates=unknown), now=NOW - timedelta(3))
        entries.spend_tokens(
            session,
            replace(
                spend(80, 20, model_rates=rates(model="estimated-model")),
                input_estimated=True,
                output_estimated=True,
            ),
            now=NOW - timedelta(hours=2),
        )
        entries.spend_tokens(
            session,
            replace(
                spend(300, 40, reasoning_tokens=30, model_rates=rates(model="figure-model")),
                provider_figure=ProviderFigure(Decimal(1234), "reported by OpenRouter"),
            ),
            now=NOW - timedelta(hours=1),
        )
        failed = entries.open_request(
            session, spend(50, model_rates=rates(model="failed-model")), hold=Decimal(75), now=NOW
        )
        entries.abandon(session, failed)
    return db


def every_row(session: Session, selection: Selection, *, descending: bool) -> list[RequestRow]:
    rows: list[RequestRow] = []
    after = None
    while found := request_rows.page(
        session, selection, descending=descending, after=after, limit=37
    ):
        rows += found
        after = found[-1].position
    return rows


@pytest.mark.parametrize("descending", [True, False])
def test_every_request_and_top_up_once_in_time_order(ledger: Database, descending: bool) -> None:
    with ledger.read() as session:
        rows = every_row(session, Selection(), descending=descending)
        requests = session.scalar(select(func.count()).select_from(Request))
        top_ups = session.scalar(select(func.count()).where(Transaction.request_id.is_(None)))
    assert len(rows) == requests + top_ups
    assert len({r.request_id for r in rows if r.request_id is not None}) == requests
    positions = [r.position for r in rows]
    assert positions == sorted(positions, reverse=descending)
    assert [r.status for r in rows].count(RequestStatus.FAILED) == 1
    assert [r.status for r in rows].count(TOP_UP) == top_ups


def test_a_row_sums_its_ledger_rows_with_positive_counts_and_cost(ledger: Database) -> None:
    with ledger.read() as session:
        rows = every_row(session, Selection(), descending=True)
        for row in rows:
            ledger_rows = request_rows.ledger_rows(session, row.request_id, row.lead_id)
            assert len(ledger_rows) == row.ledger_rows
            value = sum((r.token_value for r in ledger_rows), Decimal(0))
            assert row.cost == (value if row.is_top_up else -value) >= 0
    by_model = {r.model: r for r in rows}
    failed, provider, estimated, unknown, cached = (
        by_model[m]
        for m in (
            "failed-model",
            "figure-model",
            "estimated-model",
            "gpt-4o-mini@slow",
            "cached-model",
        )
    )
    top_up = next(r for r in rows if r.is_top_up)
    assert (failed.status, failed.cost, failed.ledger_rows) == ("failed", 0, 0)
    assert provider.provider_figure and provider.cost == Decimal(1234)
    assert provider.reasoning_tokens == 30 and provider.output_tokens == 40
    assert estimated.estimated and not provider.estimated
    assert unknown.default_rate and not cached.default_rate
    assert unknown.cost == Decimal(4303 * 10 + 50 * 30)
    # 1,000 tokens at the input rate and 600 read from the cache: 1,600 in, 600 of them cached.
    assert (cached.input_tokens, cached.cache_read_tokens, cached.output_tokens) == (1600, 600, 200)
    assert cached.cost == Decimal(1000 * 1.5 + 600 * 1.5 + 200 * 2)
    assert (top_up.cost, top_up.provider, top_up.input_tokens) == (Decimal(5_000_000), None, 0)


def test_a_filter_on_a_kind_of_row_lists_whole_requests(ledger: Database) -> None:
    cache_reads = Selection(kinds=frozenset({Kind.CACHE_READ}))
    with ledger.read() as session:
        rows = every_row(session, cache_reads, descending=True)
        with_reads = session.scalar(
            select(func.count(Transaction.request_id.distinct())).where(
                *cache_reads.transaction_clauses()
            )
        )
    assert len(rows) == with_reads > 1
    cached = next(r for r in rows if r.model == "cached-model")
    assert cached.output_tokens == 200 and cached.ledger_rows == 3  # shown whole


def test_filters_on_the_request_keep_failed_requests_and_drop_top_ups(ledger: Database) -> None:
    with ledger.read() as session:
        mine = every_row(
            session, Selection(models=frozenset({"failed-model", "figure-model"})), descending=False
        )
        estimated = every_row(session, Selection(estimated=True), descending=False)
        since = every_row(session, Selection(since=NOW.date()), descending=False)
    assert [(r.model, r.status) for r in mine] == [
        ("figure-model", "complete"),
        ("failed-model", "failed"),
    ]
    assert [r.model for r in estimated] == ["estimated-model"]  # no failed one: it has no rows
    assert all(r.created_at.date() >= NOW.date() for r in since)


def test_a_page_walks_the_time_index(ledger: Database) -> None:
    """The first page at a million rows costs its own rows only if SQLite reads it in the
    order of ``ix_transactions_created``; a scan or a sort of the whole ledger would take
    seconds."""
    statements: list[tuple[str, object]] = []

    def keep(
        _conn: Connection, _cursor: object, statement: str, params: object, *_: object
    ) -> None:
        statements.append((statement, params))

    engine = ledger.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        with ledger.read() as session:
            first = request_rows.page(session, Selection(), limit=10)
            statements.clear()
            request_rows.page(session, Selection(), after=first[-1].position, limit=10)
            lead, uncharged = statements[0], statements[1]
            plans = {
                name: [
                    row[3]
                    for row in session.connection().exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, params
                    )
                ]
                for name, (statement, params) in (("lead", lead), ("uncharged", uncharged))
            }
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert any("ix_transactions_created" in step for step in plans["lead"]), plans
    assert not any("TEMP B-TREE" in step for step in plans["lead"]), plans
    assert not any(step.startswith("SCAN mate") for step in plans["lead"]), plans
    assert any("ix_requests_status" in step for step in plans["uncharged"]), plans
    for steps in plans.values():
        assert not any(step in ("SCAN transactions", "SCAN requests") for step in steps), plans
