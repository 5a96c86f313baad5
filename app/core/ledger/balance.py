"""Balance rules, as LibreChat has them, except that an overdraft is kept, not forgiven.

- With balance checking enabled, a request whose *prompt* costs more than the balance is refused
  before anything is sent (:class:`~app.core.errors.InsufficientBalance`); the completion may then
  take the balance below zero, and the ledger shows the deficit (LibreChat clamps it at 0).
- Auto-refill mirrors LibreChat's ``checkBalance``: when a check finds the balance short and at
  least one interval has passed since the last refill, ``refill_amount`` credits are added as a
  ``credits`` transaction (context ``auto-refill``); at most one refill per check.
- The start balance is granted once, as a ``credits`` transaction, when checking is first enabled.
- Titles: a title is generated only if the balance covers its prompt plus a 150-token buffer at
  the prompt rate; otherwise it is skipped quietly.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import InsufficientBalance, InvalidSetting
from app.core.ledger import entries
from app.core.money import format_usd, require_amount
from app.core.pricing.prices import Rates
from app.core.storage.models import BalanceAccount
from app.core.types import IntervalUnit

TITLE_TOKEN_BUFFER = 150
MAX_INTERVAL_YEARS = 100


@dataclass(frozen=True)
class BalanceView:
    """The balance and its settings, as shown by ``list-balances`` and the balance panel."""

    credits: Decimal
    enabled: bool
    start_balance: Decimal
    auto_refill_enabled: bool
    refill_amount: Decimal
    refill_interval_value: int
    refill_interval_unit: IntervalUnit
    last_refill_at: datetime | None

    @property
    def next_refill_at(self) -> datetime | None:
        """When auto-refill may next add credits (it does so only when the balance runs short)."""
        if not self.auto_refill_enabled:
            return None
        if self.last_refill_at is None:
            return None  # due at the first check that finds the balance short
        return add_interval(
            self.last_refill_at, self.refill_interval_value, self.refill_interval_unit
        )


def get_balance(session: Session) -> BalanceView:
    """The balance row as a value."""
    return _view(_account(session))


def configure(
    session: Session,
    *,
    enabled: bool | None = None,
    start_balance: Decimal | None = None,
    auto_refill_enabled: bool | None = None,
    refill_amount: Decimal | None = None,
    refill_interval_value: int | None = None,
    refill_interval_unit: str | None = None,
    now: datetime | None = None,
) -> BalanceView:
    """Change balance settings; ``None`` leaves a setting as it is.

    Every value is checked before any is applied, so a refused call changes nothing, even if
    the caller catches the error and commits the session.

    Raises:
        InvalidAmount: an amount the ledger cannot hold (see :func:`money.require_amount`).
        InvalidSetting: an interval below 1 or longer than :data:`MAX_INTERVAL_YEARS` years;
            an unknown unit.
    """
    account = _account(session)
    if start_balance is not None:
        require_amount("start balance", start_balance)
    if refill_amount is not None:
        require_amount("refill amount", refill_amount)
    unit = _parse_unit(refill_interval_unit) if refill_interval_unit is not None else None
    if refill_interval_value is not None or unit is not None:
        _require_interval(
            refill_interval_value
            if refill_interval_value is not None
            else account.refill_interval_value,
            unit or IntervalUnit(account.refill_interval_unit),
        )
    if start_balance is not None:
        account.start_balance = start_balance
    if refill_amount is not None:
        account.refill_amount = refill_amount
    if refill_interval_value is not None:
        account.refill_interval_value = refill_interval_value
    if unit is not None:
        account.refill_interval_unit = unit
    if auto_refill_enabled is not None:
        account.auto_refill_enabled = auto_refill_enabled
    if enabled is not None:
        account.enabled = enabled
    session.flush()
    if account.enabled and not account.start_balance_granted:
        account.start_balance_granted = True
        if account.start_balance:
            entries.add_credits(session, account.start_balance, context="start-balance", now=now)
            session.refresh(account)
    return _view(account)


def set_balance(session: Session, target: Decimal, *, now: datetime | None = None) -> BalanceView:
    """Make the balance exactly ``target`` by recording the difference as a ``credits`` row.

    The history stays: the adjustment is a transaction like any other, so the balance is still
    the sum of the ledger.
    """
    delta = target - entries.current_balance(session)
    if delta:
        entries.add_credits(session, delta, context="set-balance", now=now)
    return get_balance(session)


def check_prompt(session: Session, cost: Decimal, *, now: datetime | None = None) -> BalanceView:
    """Refuse a request whose prompt costs more than the balance, refilling first when due.

    Credits held by requests still in flight are not available. Call it inside the write
    session that journals the request (:func:`ledger.open_request`), so no other writer can
    spend the same credits in between.

    Raises:
        InsufficientBalance: checking is on and ``cost`` exceeds the balance, even after a refill.
    """
    account = _account(session)
    if not account.enabled:
        return _view(account)
    now = now or utcnow()
    if _short(account, entries.pending_holds(session), cost) and _refill_due(account, now):
        entries.add_credits(session, account.refill_amount, context="auto-refill", now=now)
        account.last_refill_at = now
        session.flush()
        session.refresh(account)
    refused = shortfall(session, cost, now=now)
    if refused is not None:
        raise refused
    return _view(account)


def shortfall(
    session: Session, cost: Decimal, *, now: datetime | None = None
) -> InsufficientBalance | None:
    """The refusal :func:`check_prompt` would raise for ``cost`` now, or ``None``: a read only.

    A refill that is due counts as made (the check would make it), so the composer can warn
    before a send exactly when sending would be refused.
    """
    account = _account(session)
    if not account.enabled:
        return None
    held = entries.pending_holds(session)
    available = account.credits - held
    if _short(account, held, cost) and _refill_due(account, now or utcnow()):
        available += account.refill_amount
    if cost <= available:
        return None
    after_holds = f" after {format_usd(held)} held by requests in flight" if held else ""
    return InsufficientBalance(
        f"Not enough balance: this prompt costs {format_usd(cost)} "
        f"but {format_usd(available)} is available{after_holds}. Nothing was sent.",
        needed=cost,
        available=available,
        held=held,
    )


def prompt_cost(prompt_tokens: int, rates: Rates) -> Decimal:
    """What ``prompt_tokens`` cost at the model's input rate, in credits."""
    return prompt_tokens * rates.prompt


def can_afford_title(
    session: Session, prompt_tokens: int, rates: Rates, *, now: datetime | None = None
) -> bool:
    """LibreChat's title rule: the prompt plus a 150-token buffer must fit the balance."""
    try:
        check_prompt(session, prompt_cost(prompt_tokens + TITLE_TOKEN_BUFFER, rates), now=now)
    except InsufficientBalance:
        return False
    return True


def add_interval(start: datetime, value: int, unit: IntervalUnit) -> datetime:
    """``start`` plus ``value`` units; months are calendar months (Jan 31 + 1 month = Feb 28/29)."""
    if unit is IntervalUnit.MONTHS:
        months = start.month - 1 + value
        year, month = start.year + months // 12, months % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)
    return start + timedelta(**{unit.value: value})


def _short(account: BalanceAccount, held: Decimal, cost: Decimal) -> bool:
    """The balance runs short of ``cost``: the moment auto-refill is for."""
    return account.credits - held - cost <= 0


def _refill_due(account: BalanceAccount, now: datetime) -> bool:
    if not account.auto_refill_enabled or account.refill_amount <= 0:
        return False
    if account.last_refill_at is None:
        return True
    unit = IntervalUnit(account.refill_interval_unit)
    return now >= add_interval(account.last_refill_at, account.refill_interval_value, unit)


def _account(session: Session) -> BalanceAccount:
    # The ledger updates the running total with Core statements: always read it afresh.
    account = session.get(BalanceAccount, 1, populate_existing=True)
    assert account is not None, "the first migration creates the balance row"
    return account


def _view(account: BalanceAccount) -> BalanceView:
    return BalanceView(
        credits=account.credits,
        enabled=account.enabled,
        start_balance=account.start_balance,
        auto_refill_enabled=account.auto_refill_enabled,
        refill_amount=account.refill_amount,
        refill_interval_value=account.refill_interval_value,
        refill_interval_unit=IntervalUnit(account.refill_interval_unit),
        last_refill_at=account.last_refill_at,
    )


def _require_interval(value: int, unit: IntervalUnit) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidSetting("the refill interval must be at least 1")
    start = datetime(2000, 1, 1)
    try:
        end = add_interval(start, value, unit)
    except (OverflowError, ValueError):
        end = None
    if end is None or end > start.replace(year=start.year + MAX_INTERVAL_YEARS):
        raise InvalidSetting(
            f"the refill interval is longer than {MAX_INTERVAL_YEARS} years: {value:,} {unit.value}"
        )


def _parse_unit(text: str) -> IntervalUnit:
    try:
        return IntervalUnit(text.lower())
    except ValueError:
        units = ", ".join(u.value for u in IntervalUnit)
        raise InvalidSetting(f"unknown refill interval unit {text!r}; use one of {units}") from None
