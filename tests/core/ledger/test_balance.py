from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.errors import InsufficientBalance, InvalidAmount, InvalidSetting
from app.core.ledger import balance, entries
from app.core.ledger.balance import add_interval
from app.core.storage.db import Database
from app.core.storage.models import Transaction
from app.core.types import IntervalUnit
from tests.factories import rates, spend

T0 = datetime(2026, 3, 1, 12, 0)


def _enable(db: Database, credits: int = 0, **settings: object) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True, **settings)  # type: ignore[arg-type]
        if credits:
            entries.add_credits(session, Decimal(credits), now=T0)


def test_a_prompt_dearer_than_the_balance_is_refused_with_both_amounts(db: Database) -> None:
    _enable(db, credits=200)
    with pytest.raises(InsufficientBalance) as refused, db.write() as session:
        balance.check_prompt(session, balance.prompt_cost(137, rates()))
    assert refused.value.needed == Decimal("205.5")
    assert refused.value.available == Decimal(200)
    assert "Nothing was sent" in str(refused.value)


def test_the_completion_may_run_the_balance_into_deficit(db: Database) -> None:
    _enable(db, credits=300)
    with db.write() as session:
        balance.check_prompt(session, balance.prompt_cost(137, rates()))
        record = entries.spend_tokens(session, spend(137, 1000))
    assert record.balance == Decimal(300) - Decimal("205.5") - 2000  # kept negative, not clamped


def test_disabled_balance_never_refuses(db: Database) -> None:
    with db.write() as session:
        view = balance.check_prompt(session, Decimal(10**9))
    assert not view.enabled


def test_start_balance_is_granted_once(db: Database) -> None:
    with db.write() as session:
        balance.configure(session, start_balance=Decimal(5000))
        assert entries.current_balance(session) == 0  # not yet: checking is off
        balance.configure(session, enabled=True)
        balance.configure(session, enabled=False)
        balance.configure(session, enabled=True)
        assert entries.current_balance(session) == 5000
        contexts = session.scalars(select(Transaction.context)).all()
    assert contexts == ["start-balance"]


def test_auto_refill_happens_when_short_and_due_only(db: Database) -> None:
    _enable(
        db,
        auto_refill_enabled=True,
        refill_amount=Decimal(1000),
        refill_interval_value=1,
        refill_interval_unit="days",
    )
    with db.write() as session:
        balance.check_prompt(session, Decimal(100), now=T0)  # never refilled: due at once
        assert entries.current_balance(session) == 1000
        balance.check_prompt(session, Decimal(100), now=T0)  # enough balance: no refill
        entries.spend_tokens(session, spend(1000, 0, model_rates=rates("1")), now=T0)
        with pytest.raises(InsufficientBalance):
            balance.check_prompt(
                session, Decimal(100), now=datetime(2026, 3, 2, 11, 59)
            )  # 23h59 later
        balance.check_prompt(session, Decimal(100), now=datetime(2026, 3, 2, 12, 0))  # a day later
        assert entries.current_balance(session) == 1000
        refills = session.scalars(
            select(Transaction).where(Transaction.context == "auto-refill")
        ).all()
        view = balance.get_balance(session)
    assert [r.token_type for r in refills] == ["credits", "credits"]
    assert view.last_refill_at == datetime(2026, 3, 2, 12, 0)
    assert view.next_refill_at == datetime(2026, 3, 3, 12, 0)


@pytest.mark.parametrize(
    ("start", "value", "unit", "expected"),
    [
        (datetime(2026, 1, 31), 1, IntervalUnit.MONTHS, datetime(2026, 2, 28)),
        (datetime(2028, 1, 31), 1, IntervalUnit.MONTHS, datetime(2028, 2, 29)),
        (datetime(2026, 11, 15), 3, IntervalUnit.MONTHS, datetime(2027, 2, 15)),
        (datetime(2026, 1, 1), 2, IntervalUnit.WEEKS, datetime(2026, 1, 15)),
        (datetime(2026, 1, 1), 90, IntervalUnit.SECONDS, datetime(2026, 1, 1, 0, 1, 30)),
    ],
)
def test_refill_intervals(
    start: datetime, value: int, unit: IntervalUnit, expected: datetime
) -> None:
    assert add_interval(start, value, unit) == expected


def test_title_needs_its_prompt_plus_a_150_token_buffer(db: Database) -> None:
    _enable(db, credits=250)
    with db.write() as session:
        assert balance.can_afford_title(session, 100, rates("1"))  # 250 tokens -> 250 credits
        assert not balance.can_afford_title(session, 101, rates("1"))


def test_set_balance_records_the_difference(db: Database) -> None:
    with db.write() as session:
        entries.spend_tokens(session, spend(137, 0))
        view = balance.set_balance(session, Decimal(1_000_000))
        assert view.credits == Decimal(1_000_000)
        assert entries.ledger_sum(session) == Decimal(1_000_000)
        adjustment = session.scalars(
            select(Transaction).where(Transaction.context == "set-balance")
        ).one()
    assert adjustment.token_value == Decimal("1000205.5")


@pytest.mark.parametrize(
    "bad",
    [
        {"refill_amount": Decimal(-1)},
        {"refill_interval_value": 0},
        {"refill_interval_unit": "fortnights"},
        {"start_balance": Decimal(-5)},
    ],
)
def test_invalid_settings_are_rejected_and_not_stored(db: Database, bad: dict[str, object]) -> None:
    with pytest.raises((InvalidAmount, InvalidSetting)), db.write() as session:
        balance.configure(session, **bad)  # type: ignore[arg-type]
    with db.read() as session:
        view = balance.get_balance(session)
    assert (view.refill_amount, view.refill_interval_value, view.refill_interval_unit) == (
        0,
        1,
        IntervalUnit.DAYS,
    )


def test_the_refusal_says_what_happened_not_which_command_to_run(db: Database) -> None:
    _enable(db, credits=200)
    with pytest.raises(InsufficientBalance) as refused, db.write() as session:
        balance.check_prompt(session, Decimal(300))
    assert str(refused.value) == (
        "Not enough balance: this prompt costs $0.0003 but $0.0002 is available. Nothing was sent."
    )


def test_shortfall_foresees_check_prompt_without_writing(db: Database) -> None:
    _enable(db, credits=200)
    with db.read() as session:
        assert balance.shortfall(session, Decimal(200), now=T0) is None
        short = balance.shortfall(session, Decimal(201), now=T0)
    assert short is not None and short.needed == 201 and short.available == 200


def test_shortfall_counts_a_refill_that_is_due_as_made(db: Database) -> None:
    _enable(db, credits=100, auto_refill_enabled=True, refill_amount=Decimal(500))
    with db.read() as session:
        assert balance.shortfall(session, Decimal(600), now=T0) is None  # 100 + the refill
        assert balance.shortfall(session, Decimal(601), now=T0) is not None
        rows = session.scalars(select(Transaction.context)).all()
    assert "auto-refill" not in rows  # foreseen, not made
    with db.write() as session:
        balance.check_prompt(session, Decimal(600), now=T0)  # the check makes it, and passes
    with db.read() as session:
        assert balance.shortfall(session, Decimal(601), now=T0) is not None  # not due again yet


def test_a_disabled_balance_has_no_shortfall(db: Database) -> None:
    with db.read() as session:
        assert balance.shortfall(session, Decimal(10**9)) is None
