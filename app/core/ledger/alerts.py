"""Budgets and alerts: low balance, budget thresholds, and requests that look wrong.

Alerts are computed after each metered request, and each crossing is raised once: a budget at
80% of this month alerts once this month; a low balance alerts once, and again only after the
balance has been topped up above the threshold and fallen below it again. The UI shows them as a
banner and a desktop notification, never as a dialog that blocks typing.

A budget may also *block*: once it is reached (100%), a request it covers is refused before
anything is sent (:func:`blocking`, called with the balance check), as LiteLLM's ``max_budget``.
A refusal is shown as an alert too (:func:`refused`), standing while its cause does.

Alerts are listed most severe first (:func:`most_severe_first`): a budget reached or a refusal
above an 80% crossing or a low balance, above an unusual request.

Anomalies: a request costing far more than usual (``ANOMALY_FACTOR`` times the median of the
last ``ANOMALY_HISTORY`` requests, once there are ``ANOMALY_MINIMUM`` of them), and a pre-send
estimate far from what the provider reported (more than ``ESTIMATE_GAP`` off, and by at least
``ESTIMATE_GAP_TOKENS`` tokens).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import (
    BudgetReached,
    InsufficientBalance,
    InvalidSetting,
    NotFound,
    Remedy,
    SpendRefused,
)
from app.core.ledger import balance, entries, spend
from app.core.ledger.selection import Selection
from app.core.money import format_usd, require_amount
from app.core.storage import settings
from app.core.storage.models import AlertLog, Budget, Request, Transaction

THRESHOLDS = (50, 80, 100)
LOW_BALANCE_KEY = "low_balance_threshold"
ANOMALY_FACTOR = 5
ANOMALY_HISTORY = 50
ANOMALY_MINIMUM = 10
ESTIMATE_GAP = 0.25
ESTIMATE_GAP_TOKENS = 50
LOW_BALANCE_ALERT = "low-balance"
_BUDGET_ALERT = "budget:"
_BALANCE_REFUSAL = "refused-balance:"
_BUDGET_REFUSAL = "refused-budget:"
_STANDS_WHILE_TRUE = (LOW_BALANCE_ALERT, _BUDGET_ALERT, _BALANCE_REFUSAL, _BUDGET_REFUSAL)


class Level(StrEnum):
    """How loud an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    """Something the user should know, in their words.

    ``remedy`` is what the user can do about it (the window offers it as a button), if anything.
    """

    key: str
    level: Level
    title: str
    message: str
    remedy: Remedy | None = None

    @property
    def is_refusal(self) -> bool:
        """It reports a request refused a moment ago, not something the ledger became."""
        return self.key.startswith((_BALANCE_REFUSAL, _BUDGET_REFUSAL))


@dataclass(frozen=True)
class BudgetView:
    """A budget and how much of it is spent in the current period."""

    id: int
    period: str
    scope: str
    target: str | None
    limit: Decimal
    spent: Decimal
    block: bool = False
    """Requests it covers are refused once it is reached."""

    @property
    def reached(self) -> bool:
        """The whole limit is spent."""
        return self.spent >= self.limit

    @property
    def label(self) -> str:
        """``Monthly budget for gpt-4o``, ``Daily budget``..."""
        period = "Daily" if self.period == "day" else "Monthly"
        return f"{period} budget" + (f" for {self.target}" if self.target else "")

    @property
    def percent(self) -> float:
        """Share of the limit spent, in percent."""
        return float(self.spent / self.limit * 100) if self.limit else 0.0


def add_budget(
    session: Session,
    period: str,
    limit: Decimal,
    scope: str = "all",
    target: str | None = None,
    *,
    block: bool = False,
) -> int:
    """Add a budget (``block``: refuse the requests it covers once it is reached); returns its id.

    Raises:
        InvalidSetting: unknown period or scope, or a missing target.
        InvalidAmount: a limit that is not a positive amount of credits the ledger can hold
            (see :func:`money.require_amount`).
    """
    if period not in ("day", "month"):
        raise InvalidSetting("A budget is per day or per month.")
    if scope not in ("all", "provider", "model"):
        raise InvalidSetting("A budget covers all spend, one provider or one model.")
    if scope != "all" and not (target or "").strip():
        raise InvalidSetting(f"A {scope} budget needs the {scope}'s name.")
    require_amount("budget", limit, positive=True)
    budget = Budget(
        period=period,
        scope=scope,
        target=(target or "").strip() or None,
        limit=limit,
        block=block,
    )
    session.add(budget)
    session.flush()
    return budget.id


def remove_budget(session: Session, budget_id: int) -> None:
    """Delete a budget (its alerts' history goes with it).

    Raises:
        NotFound: no such budget (removed already, perhaps elsewhere).
    """
    if session.get(Budget, budget_id) is None:
        raise NotFound(f"There is no budget {budget_id}; it may have been removed already.")
    session.execute(delete(Budget).where(Budget.id == budget_id))
    session.execute(delete(AlertLog).where(AlertLog.key.like(f"{_BUDGET_ALERT}{budget_id}:%")))


def budgets(session: Session, *, now: datetime | None = None) -> list[BudgetView]:
    """Every budget with its spend in the current day or month."""
    now = now or utcnow()
    views = []
    for budget in session.scalars(select(Budget).order_by(Budget.period, Budget.id)):
        spent = spend.total(session, _counted(budget, now))
        views.append(
            BudgetView(
                budget.id,
                budget.period,
                budget.scope,
                budget.target,
                budget.limit,
                spent,
                budget.block,
            )
        )
    return views


def blocking(
    session: Session, *, provider: str, model: str, now: datetime | None = None
) -> BudgetReached | None:
    """The refusal a reached blocking budget makes of a request to ``model`` at ``provider``
    (an endpoint id), or ``None``: a read only. The first such budget, monthly before daily."""
    now = now or utcnow()
    for budget in budgets(session, now=now):
        if budget.block and budget.reached and _covers(budget, provider, model):
            period = "this month" if budget.period == "month" else "today"
            return BudgetReached(
                f"{budget.label} reached: {format_usd(budget.spent)} of "
                f"{format_usd(budget.limit)} spent {period}, and it blocks sending at 100%. "
                "Nothing was sent.",
                budget_id=budget.id,
                period_key=_period_key(budget.period, now),
            )
    return None


def _covers(budget: BudgetView, provider: str, model: str) -> bool:
    if budget.scope == "provider":
        return budget.target == provider
    if budget.scope == "model":
        return budget.target == model
    return True


def _counted(budget: Budget, now: datetime) -> Selection:
    """The spend a budget counts: its period's, from its first UTC day on, in its scope.

    Read from the daily rollups, which is exact (to the millionth, as money must be): a
    period begins at midnight UTC (:func:`period_start`), where the rollups' days begin, so
    the period's rollup days hold exactly its transactions. A period starting mid-day could
    not be read this way; it would have to sum ``transactions`` from its start.
    """
    first_day = period_start(budget.period, now).date()
    if budget.scope == "provider":
        return Selection(since=first_day, providers=frozenset({budget.target or ""}))
    if budget.scope == "model":
        return Selection(since=first_day, models=frozenset({budget.target or ""}))
    return Selection(since=first_day)


def low_balance_threshold(session: Session) -> Decimal | None:
    """Credits under which the balance is low (``None``: no low-balance alert)."""
    stored: str | None = settings.get(session, LOW_BALANCE_KEY, None)
    return Decimal(stored) if stored is not None else None


def set_low_balance_threshold(session: Session, credits: Decimal | None) -> None:
    """Set (or clear, with ``None``) the low-balance threshold.

    Raises:
        InvalidAmount: not an amount of credits the ledger can hold (see
            :func:`money.require_amount`).
    """
    if credits is not None:
        require_amount("low-balance threshold", credits)
    settings.put(session, LOW_BALANCE_KEY, None if credits is None else f"{credits:f}")
    session.execute(delete(AlertLog).where(AlertLog.key == LOW_BALANCE_ALERT))


def check(
    session: Session, *, request_id: int | None = None, now: datetime | None = None
) -> list[Alert]:
    """The alerts that became true, each raised once; call after a request settles."""
    now = now or utcnow()
    low = _low_balance(session)
    if not low:
        session.execute(delete(AlertLog).where(AlertLog.key == LOW_BALANCE_ALERT))  # re-arm
    found = [*low, *_budget_alerts(session, now)]
    if request_id is not None:
        found += _anomalies(session, request_id)
    return raise_once(session, found, now=now)


def raise_once(session: Session, found: Iterable[Alert], *, now: datetime) -> list[Alert]:
    """Of ``found``, those never raised before (by key), now remembered as raised: the one
    place any check (budgets here, the daily reconciliation) makes an alert raised once."""
    fresh = [alert for alert in found if session.get(AlertLog, alert.key) is None]
    for alert in fresh:
        session.add(AlertLog(key=alert.key, raised_at=now))
    return fresh


def standing(session: Session, keys: Iterable[str], *, now: datetime | None = None) -> set[str]:
    """Which of the alerts raised earlier (by key) still describe the ledger.

    A low balance stands while the balance is under the threshold; a budget crossing while the
    budget exists, in the period it was raised for, with that share spent; anything else (an
    anomaly is about one past request) stands until the user dismisses it. A read only.
    """
    now = now or utcnow()
    true_now = {alert.key for alert in _low_balance(session)}
    for budget in budgets(session, now=now):
        true_now.update(_budget_key(budget, now, t) for t in THRESHOLDS if budget.percent >= t)
        if budget.block and budget.reached:
            true_now.add(f"{_BUDGET_REFUSAL}{budget.id}:{_period_key(budget.period, now)}")
    for key in keys:
        if key.startswith(_BALANCE_REFUSAL):
            needed = Decimal(key.removeprefix(_BALANCE_REFUSAL))
            if balance.shortfall(session, needed, now=now) is not None:
                true_now.add(key)
    return {key for key in keys if key in true_now or not key.startswith(_STANDS_WHILE_TRUE)}


def refused(error: SpendRefused) -> Alert:
    """A refusal as an alert: it stands while its cause does (the balance still cannot pay
    that prompt; the budget still blocks, this period), so a top-up takes it down."""
    if isinstance(error, InsufficientBalance):
        key = f"{_BALANCE_REFUSAL}{error.needed:f}"
    else:
        assert isinstance(error, BudgetReached)
        key = f"{_BUDGET_REFUSAL}{error.budget_id}:{error.period_key}"
    return Alert(key, Level.CRITICAL, "Not sent", str(error), error.remedy)


def most_severe_first(shown: Iterable[Alert]) -> list[Alert]:
    """The alerts loudest first; at one level, the spending rules' (budgets, balance, refusals)
    before a remark on one request, a higher budget threshold first, else the newest first
    (``shown`` is in the order they came)."""
    ordered = list(shown)[::-1]
    return sorted(ordered, key=_severity)


def _severity(alert: Alert) -> tuple[int, int, int]:
    about_rules = alert.key.startswith(_STANDS_WHILE_TRUE)
    threshold = int(alert.key.rsplit(":", 1)[1]) if alert.key.startswith(_BUDGET_ALERT) else 0
    loudness = (Level.CRITICAL, Level.WARNING, Level.INFO).index(alert.level)
    return (loudness, 0 if about_rules else 1, -threshold)


def period_start(period: str, now: datetime) -> datetime:
    """Midnight UTC of the day, or of the first of the month."""
    day = now.date() if period == "day" else now.date().replace(day=1)
    return datetime.combine(day, time.min)


def _low_balance(session: Session) -> list[Alert]:
    threshold = low_balance_threshold(session)
    if threshold is None:
        return []
    credits = entries.current_balance(session)
    if credits >= threshold:
        return []
    return [
        Alert(
            LOW_BALANCE_ALERT,
            Level.CRITICAL if credits <= 0 else Level.WARNING,
            "Low balance",
            f"The balance is {format_usd(credits)}, under your {format_usd(threshold)} threshold.",
            Remedy.ADD_CREDITS,
        )
    ]


def _budget_alerts(session: Session, now: datetime) -> list[Alert]:
    alerts = []
    for budget in budgets(session, now=now):
        reached = [t for t in THRESHOLDS if budget.percent >= t]
        if not reached:
            continue
        threshold = reached[-1]
        level = (
            Level.CRITICAL if threshold >= 100 else Level.WARNING if threshold >= 80 else Level.INFO
        )
        alerts.append(
            Alert(
                _budget_key(budget, now, threshold),
                level,
                f"{budget.label}: {threshold}% reached",
                f"{format_usd(budget.spent)} of {format_usd(budget.limit)} spent "
                f"({budget.percent:.0f}%)." + (" Sending is blocked." if budget.block else ""),
                Remedy.BUDGETS,
            )
        )
    return alerts


def _budget_key(budget: BudgetView, now: datetime, threshold: int) -> str:
    """``budget:<id>:<period>:<percent>``: raised once per budget, period and threshold."""
    return f"{_BUDGET_ALERT}{budget.id}:{_period_key(budget.period, now)}:{threshold}"


def _period_key(period: str, now: datetime) -> str:
    """``2026-12-02`` for a day, ``2026-12`` for a month."""
    return period_start(period, now).strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def _anomalies(session: Session, request_id: int) -> list[Alert]:
    request = session.get(Request, request_id)
    if request is None or request.status == "pending":
        return []
    alerts = []
    earlier = (
        select(Request.id)
        .where(Request.id < request_id, Request.status.in_(("complete", "incomplete")))
        .order_by(Request.id.desc())
        .limit(ANOMALY_HISTORY)
        .scalar_subquery()
    )
    cost = _request_costs(session, Transaction.request_id == request_id).get(request_id, Decimal(0))
    recent = list(_request_costs(session, Transaction.request_id.in_(earlier)).values())
    if len(recent) >= ANOMALY_MINIMUM:
        usual = Decimal(statistics.median(recent))
        if usual > 0 and cost > usual * ANOMALY_FACTOR:
            alerts.append(
                Alert(
                    f"anomaly-cost:{request_id}",
                    Level.WARNING,
                    "An unusually expensive request",
                    f"That request cost {format_usd(cost)}, {cost / usual:.0f}x your usual "
                    f"{format_usd(usual)} ({request.model}).",
                )
            )
    estimated, reported = request.estimated_prompt_tokens, request.reported_prompt_tokens
    if estimated and reported:
        gap = abs(estimated - reported)
        if gap >= ESTIMATE_GAP_TOKENS and gap / reported > ESTIMATE_GAP:
            alerts.append(
                Alert(
                    f"anomaly-estimate:{request_id}",
                    Level.INFO,
                    "An estimate was far off",
                    f"{request.model} reported {reported:,} prompt tokens; Tallybook estimated "
                    f"{estimated:,} ({(estimated - reported) / reported:+.0%}).",
                )
            )
    return alerts


def _request_costs(session: Session, which: ColumnElement[bool]) -> dict[int, Decimal]:
    """Cost of each selected request, in credits (positive)."""
    rows = session.execute(
        select(Transaction.request_id, func.sum(Transaction.token_value))
        .where(which)
        .group_by(Transaction.request_id)
    )
    return {request_id: -Decimal(value) for request_id, value in rows if request_id is not None}
