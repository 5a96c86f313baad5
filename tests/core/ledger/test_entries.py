from __future__ import annotations

import contextlib
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.core.errors import InvalidAmount, TallybookError
from app.core.ledger import balance, entries
from app.core.pricing.charges import TokenUsage
from app.core.storage.db import Database
from app.core.storage.models import Request, Transaction
from tests.factories import rates, spend


def test_librechat_example_137_prompt_tokens_at_1_5(db: Database) -> None:
    with db.write() as session:
        record = entries.spend_tokens(session, spend(137, 0))
    prompt = record.transactions[0]
    assert (prompt.token_type, prompt.raw_amount, prompt.rate) == (
        "prompt",
        Decimal(-137),
        Decimal("1.5"),
    )
    assert prompt.token_value == Decimal("-205.5")
    assert record.balance == Decimal("-205.5")
    with db.read() as session:
        assert entries.current_balance(session) == Decimal("-205.5")


def test_one_transaction_per_token_type_with_cache_and_reasoning(db: Database) -> None:
    model = rates("3", "15", cache_write="3.75", cache_read="0.3")
    request = spend(
        100,
        500,
        model_rates=model,
        cache_write_tokens=2000,
        cache_read_tokens=8000,
        reasoning_tokens=300,
    )
    with db.write() as session:
        record = entries.spend_tokens(session, request)
    by_type = {t.token_type: t for t in record.transactions}
    assert set(by_type) == {"prompt", "completion", "cache_write", "cache_read"}
    assert by_type["cache_write"].token_value == Decimal(-7500)
    assert by_type["cache_read"].token_value == Decimal(-2400)
    assert record.total == Decimal(-300 - 7500 - 7500 - 2400)
    with db.read() as session:
        stored = session.get(Request, record.request_id)
        assert stored is not None
        assert stored.reasoning_tokens == 300
        assert stored.reported_prompt_tokens == 10_100


def test_amounts_are_integers_in_the_file(db: Database) -> None:
    with db.write() as session:
        entries.spend_tokens(session, spend(137, 3, model_rates=rates("0.123456", "1.000001")))
    with sqlite3.connect(db.path) as raw:
        rows = raw.execute(
            "SELECT raw_amount, rate, token_value, typeof(token_value) FROM transactions"
        ).fetchall()
    assert rows == [
        (-137_000_000, 123_456, -16_913_472, "integer"),
        (-3_000_000, 1_000_001, -3_000_003, "integer"),
    ]


def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    bad = entries.Spend(
        "openai", "m", TokenUsage(10, 10), rates(), conversation_id=999
    )  # no such conversation
    with pytest.raises(TallybookError), db.write() as session:
        entries.spend_tokens(session, bad)
    with db.read() as session:
        assert session.scalars(select(Transaction)).all() == []
        assert entries.current_balance(session) == 0


@pytest.mark.parametrize("usage", [(-1, 0), (1.5, 0), (True, 0)])
def test_token_counts_must_be_whole_and_non_negative(usage: tuple[object, object]) -> None:
    with pytest.raises(InvalidAmount):
        TokenUsage(*usage)  # type: ignore[arg-type]


def test_reasoning_cannot_exceed_the_completion() -> None:
    with pytest.raises(InvalidAmount):
        TokenUsage(1, 10, reasoning_tokens=11)


def test_top_up_of_zero_is_refused(db: Database) -> None:
    with pytest.raises(InvalidAmount), db.write() as session:
        entries.add_credits(session, Decimal(0))


operations = st.one_of(
    st.tuples(
        st.just("spend"),
        st.integers(0, 200_000),
        st.integers(0, 50_000),
        st.integers(0, 10_000),
        st.decimals(min_value=0, max_value=200, places=6),
    ),
    st.tuples(st.just("top-up"), st.integers(1, 10**9)),
    st.tuples(st.just("set"), st.integers(-(10**6), 10**9)),
    st.tuples(st.just("refill"), st.integers(1, 10**7)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operations, max_size=25))
def test_balance_always_equals_the_sum_of_the_ledger(db: Database, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    expected = _current(db)
    now = datetime(2026, 1, 1)
    with db.write() as session:
        balance.configure(
            session,
            enabled=True,
            auto_refill_enabled=True,
            refill_interval_value=1,
            refill_interval_unit="minutes",
        )
    for step in steps:
        now += timedelta(minutes=5)
        with db.write() as session:
            match step:
                case ("spend", prompt, completion, cached, rate):
                    record = entries.spend_tokens(
                        session,
                        spend(
                            prompt,
                            completion,
                            cache_read_tokens=cached,
                            model_rates=rates(f"{rate:f}", "7.25", cache_read="0.05"),
                        ),
                        now=now,
                    )
                    expected += record.total
                case ("top-up", amount):
                    expected += entries.add_credits(session, Decimal(amount), now=now).token_value
                case ("set", target):
                    balance.set_balance(session, Decimal(target), now=now)
                    expected = Decimal(target)
                case ("refill", amount):
                    balance.configure(session, refill_amount=Decimal(amount))
                    before = entries.current_balance(session)
                    with contextlib.suppress(TallybookError):
                        balance.check_prompt(session, before + 1, now=now)
                    expected += entries.current_balance(session) - before
        assert _current(db) == expected
    with db.read() as session:
        assert entries.ledger_sum(session) == entries.current_balance(session) == expected


def _current(db: Database) -> Decimal:
    with db.read() as session:
        return entries.current_balance(session)
