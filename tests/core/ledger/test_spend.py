"""The one reader of the rollups: whichever table it picks, it gives what a fresh sum of the raw
transactions gives, for any selection and grouping, with counts and cost positive."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import conversations
from app.core.ledger import demo_data, entries, spend
from app.core.ledger.entries import Spend
from app.core.ledger.selection import Selection
from app.core.ledger.spend import By, Table
from app.core.money import from_micros
from app.core.pricing.charges import ProviderFigure, TokenUsage
from app.core.pricing.units import TOKEN_KINDS, Kind, kind_of
from app.core.storage.db import Database
from tests.factories import rates

NOW = datetime(2026, 11, 23, 12, 0)
FIRST_DAY = (NOW - timedelta(days=30)).date()
TOOLS = ("curl", "Zed")
PROVIDERS = ("openai", "anthropic", "gemini", "deepseek")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "tool-model")


@dataclass(frozen=True)
class Raw:
    """One transaction as stored, with its conversation's source and title."""

    day: date
    provider: str
    model: str
    token_type: str
    amount: Decimal
    value: Decimal
    conversation_id: int | None
    estimated: bool
    source: str | None
    title: str | None


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, list[Raw]]]:
    """A month of demo spend in the chat window, two tools' spend, spend outside any
    conversation (some estimated, some with the provider's own figure or web searches) and
    top-ups; and every transaction read back raw."""
    db = Database(Path(tmp_path_factory.mktemp("spend")) / "ledger.sqlite3")
    with db.write() as session:
        demo_data.fill(session, 2_500, 30, now=NOW)
        owners = [conversations.for_source(session, tool, now=NOW) for tool in TOOLS]
        entries.add_credits(session, Decimal(10_000), now=NOW - timedelta(days=3))
        for step in range(90):
            usage = TokenUsage(
                100 + 13 * step,
                10 + step,
                cache_write_tokens=(step % 2) * 40,
                cache_read_tokens=(step % 3) * 200,
                other=(("web_searches", 1 + step % 2),) if step % 5 == 0 else (),
            )
            figure = ProviderFigure(Decimal(step + 1), "reported") if step % 7 == 0 else None
            entries.spend_tokens(
                session,
                Spend(
                    ("openai", "anthropic")[step % 2],
                    "tool-model",
                    usage,
                    rates("3", "15", "3.75", "0.3", model="tool-model"),
                    [*owners, None][step % 3],
                    output_estimated=step % 4 == 0,
                    provider_figure=figure,
                ),
                now=NOW - timedelta(days=step % 20, hours=step % 9),
            )
    with db.read() as session:
        found = session.connection().exec_driver_sql(
            "SELECT substr(t.created_at, 1, 10), COALESCE(t.provider, ''), COALESCE(t.model, ''),"
            " t.token_type, t.raw_amount, t.token_value, t.conversation_id, t.estimated,"
            " c.source, c.title"
            " FROM transactions t LEFT JOIN conversations c ON c.id = t.conversation_id"
        )
        raw = [
            Raw(date.fromisoformat(d), p, m, u, from_micros(a), from_micros(v), cid, bool(e), s, t)
            for d, p, m, u, a, v, cid, e, s, t in found
        ]
    try:
        yield db, raw
    finally:
        db.close()


def _chosen(row: Raw, selection: Selection) -> bool:
    """The selection's meaning, written out once more over the raw rows."""
    return (
        row.token_type != "credits"
        and (selection.since is None or row.day >= selection.since)
        and (selection.until is None or row.day <= selection.until)
        and (not selection.providers or row.provider in selection.providers)
        and (not selection.models or row.model in selection.models)
        and (not selection.sources or row.source in selection.sources)
        and (selection.conversation_id in (None, row.conversation_id))
        and (not selection.token_types or row.token_type in selection.token_types)
        and (not selection.kinds or kind_of(row.token_type) in selection.kinds)
        and (selection.estimated in (None, row.estimated))
    )


def _key(by: tuple[By, ...], day: Any, model: Any, unit: Any, conversation: Any) -> tuple[Any, ...]:
    named = {By.DAY: day, By.MODEL: model, By.UNIT: unit, By.CONVERSATION: conversation}
    return tuple(named[b] for b in By if b in by)


def _fresh(raw: list[Raw], selection: Selection, by: tuple[By, ...]) -> dict[Any, tuple[Any, ...]]:
    """(cost, tokens of each kind, units, models) per group, summed from the transactions."""
    sums: dict[Any, list[Any]] = {}
    for row in (r for r in raw if _chosen(r, selection)):
        if By.CONVERSATION in by and row.conversation_id is None:
            continue  # grouped by conversation: conversations only
        key = _key(by, row.day, row.model, row.token_type, row.conversation_id)
        entry = sums.setdefault(key, [Decimal(0), 0, 0, 0, 0, Decimal(0), set()])
        entry[0] -= row.value
        kind = kind_of(row.token_type)
        if kind in TOKEN_KINDS:
            entry[1 + TOKEN_KINDS.index(kind)] -= int(row.amount)
        entry[5] -= row.amount
        entry[6].add(row.model)
    return {
        key: (cost, *tokens, units if By.UNIT in by else 0, tuple(sorted(models)))
        for key, (cost, *tokens, units, models) in sums.items()
    }


def _read(db: Database, selection: Selection, by: tuple[By, ...]) -> dict[Any, tuple[Any, ...]]:
    with db.read() as session:
        found = spend.rows(session, selection, by)
    return {
        _key(by, r.day, r.model, r.token_type, r.conversation_id): (
            r.cost,
            r.input_tokens,
            r.output_tokens,
            r.cache_write_tokens,
            r.cache_read_tokens,
            r.units,
            r.models,
        )
        for r in found
        if by or r.cost  # grouped by nothing, an empty selection still gives its zero total
    }


CASES = [
    (Selection(), (), Table.DAILY),
    (Selection(), (By.DAY, By.MODEL), Table.DAILY),
    (Selection(), (By.UNIT,), Table.DAILY),
    (
        Selection(since=NOW.date() - timedelta(days=6), providers=frozenset({"openai"})),
        (By.DAY,),
        Table.DAILY,
    ),
    (Selection(kinds=frozenset({Kind.CACHE_READ, Kind.OTHER})), (By.MODEL,), Table.DAILY),
    (Selection(token_types=frozenset({"completion"})), (By.MODEL, By.UNIT), Table.DAILY),
    (Selection(sources=frozenset({"chat"})), (By.DAY, By.MODEL), Table.SOURCES),
    (
        Selection(sources=frozenset(TOOLS), models=frozenset({"tool-model"})),
        (By.MODEL,),
        Table.SOURCES,
    ),
    (Selection(until=NOW.date() - timedelta(days=10)), (By.CONVERSATION,), Table.CONVERSATIONS),
    (Selection(sources=frozenset({"curl"})), (By.CONVERSATION, By.DAY), Table.CONVERSATIONS),
    (Selection(conversation_id=1), (By.DAY,), Table.CONVERSATIONS),
    (Selection(estimated=True), (By.MODEL,), Table.LEDGER),
    (Selection(estimated=False, sources=frozenset({"Zed"})), (By.CONVERSATION,), Table.LEDGER),
    (Selection(sources=frozenset({"chat", "curl"})), (By.UNIT,), Table.LEDGER),
    (Selection(kinds=frozenset({Kind.OUTPUT})), (By.CONVERSATION,), Table.LEDGER),
]


@pytest.mark.parametrize(("selection", "by", "table"), CASES)
def test_every_table_gives_the_transactions_own_sums(
    ledger: tuple[Database, list[Raw]], selection: Selection, by: tuple[By, ...], table: Table
) -> None:
    db, raw = ledger
    assert spend.table_for(selection, by) is table
    expected = _fresh(raw, selection, by)
    assert expected, "the case selects some spend"
    assert _read(db, selection, by) == expected


def test_every_table_agrees_on_the_total(ledger: tuple[Database, list[Raw]]) -> None:
    db, raw = ledger
    everything = sum(-r.value for r in raw if r.token_type != "credits")
    outside = sum(-r.value for r in raw if r.token_type != "credits" and r.source is None)
    with db.read() as session:
        per_source = spend.total(session, Selection(sources=frozenset({"chat", *TOOLS})))
        per_conversation = sum(r.cost for r in spend.rows(session, Selection(), (By.CONVERSATION,)))
        per_unit_raw = sum(
            r.cost for r in spend.rows(session, Selection(estimated=False), (By.UNIT,))
        ) + spend.total(session, Selection(estimated=True))
        assert spend.total(session, Selection()) == everything > 0
    assert per_source == per_conversation == everything - outside
    assert outside > 0 and per_unit_raw == everything


def test_cache_savings_are_the_same_from_each_rollup(ledger: tuple[Database, list[Raw]]) -> None:
    db, raw = ledger
    with db.read() as session:

        def saved(selection: Selection, by: tuple[By, ...] = ()) -> Decimal:
            return sum(
                (r.saved for r in spend.rows(session, selection, by, savings=True)), Decimal(0)
            )

        overall = saved(Selection(), (By.MODEL,))
        by_source = {s: saved(Selection(sources=frozenset({s}))) for s in ("chat", *TOOLS)}
        by_conversation = saved(Selection(), (By.CONVERSATION,))
        with pytest.raises(ValueError, match="uncached"):  # the raw ledger keeps none
            saved(Selection(estimated=False))
        (unread,) = spend.rows(session, Selection())
    # Outside any conversation only the tool model spent: 3 credits a plain input token, 0.3 a
    # cache read, 3.75 a cache write.
    per_token = {"cache_read": Decimal("2.7"), "cache_write": Decimal("-0.75")}
    outside = sum(
        -r.amount * per_token[r.token_type]
        for r in raw
        if r.conversation_id is None and r.token_type in per_token
    )
    assert by_conversation == sum(by_source.values()) > 0
    assert overall == by_conversation + outside and outside > 0
    with pytest.raises(ValueError, match="not read"):
        _ = unread.saved


@pytest.mark.parametrize(
    "selection",
    [Selection(), Selection(sources=frozenset({"curl", "chat"})), Selection(estimated=False)],
)
@pytest.mark.parametrize("savings", [False, True])
def test_the_largest_groups_are_ranked_in_sql_as_in_python(
    ledger: tuple[Database, list[Raw]], selection: Selection, savings: bool
) -> None:
    db, _ = ledger
    by = (By.CONVERSATION,)
    with db.read() as session:
        if savings and spend.table_for(selection, by) is Table.LEDGER:
            with pytest.raises(ValueError, match="uncached"):
                spend.largest(session, selection, by, 5, savings=True)
            return
        every = spend.rows(session, selection, by, savings=savings)
        ranked = spend.largest(session, selection, by, 5, savings=savings)
        nothing = spend.largest(session, Selection(models=frozenset({"none"})), by, 5)

    def rank(row: spend.SpendRow) -> Decimal:
        return row.saved if savings else row.cost

    expected = sorted(every, key=lambda r: (-rank(r), r.conversation_id))[:5]
    assert ranked == (expected, len(every), sum(r.cost for r in every))
    assert len(ranked.top) == 5 < ranked.groups
    assert nothing == ([], 0, 0)


def test_the_balance_changes_add_up_to_the_balance(ledger: tuple[Database, list[Raw]]) -> None:
    db, raw = ledger
    with db.read() as session:
        changes = spend.balance_changes(session)
        balance = entries.current_balance(session)
    assert sum(change for _, change in changes) == balance == sum(r.value for r in raw)
    assert [day for day, _ in changes] == sorted({r.day for r in raw})


def test_the_menus_offer_what_has_spend(ledger: tuple[Database, list[Raw]]) -> None:
    db, raw = ledger
    with db.read() as session:
        providers, models, sources = spend.choices(session)
    spent = [r for r in raw if r.token_type != "credits"]
    assert providers == sorted({r.provider for r in spent})
    assert models == sorted({r.model for r in spent})
    assert sources == ["chat", "curl", "Zed"]


days = st.dates(FIRST_DAY - timedelta(days=2), NOW.date() + timedelta(days=1))


@st.composite
def selections(draw: st.DrawFn) -> Selection:
    first, last = sorted((draw(days), draw(days)))
    return Selection(
        since=draw(st.none() | st.just(first)),
        until=draw(st.none() | st.just(last)),
        providers=frozenset(draw(st.sets(st.sampled_from(PROVIDERS), max_size=2))),
        models=frozenset(draw(st.sets(st.sampled_from(MODELS), max_size=2))),
        sources=frozenset(draw(st.sets(st.sampled_from(("chat", *TOOLS)), max_size=2))),
        kinds=frozenset(draw(st.sets(st.sampled_from(list(Kind)), max_size=2))),
        estimated=draw(st.none() | st.booleans()),
    )


groupings = st.lists(st.sampled_from(list(By)), max_size=3, unique=True).map(tuple)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(selections(), groupings)
def test_any_selection_any_grouping_equals_the_transactions(
    ledger: tuple[Database, list[Raw]], selection: Selection, by: tuple[By, ...]
) -> None:
    db, raw = ledger
    assert _read(db, selection, by) == _fresh(raw, selection, by)
