"""Everything the dashboard shows, read in one go on the task thread.

The view asks for a :class:`FigureRequest` and gets back one frozen :class:`DashboardFigures`,
so a refresh replaces every figure at once from one read transaction: the charts can never show
a mix of an older and a newer ledger. Every number comes from :mod:`app.core.ledger.analysis` (the
daily aggregates), so a refresh costs the same at a hundred or a million transactions. No Qt
here: the function runs off the GUI thread and is easy to test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from app.core.ledger import alerts, analysis, spend
from app.core.ledger.analysis import (
    BalancePoint,
    Bucket,
    CostPoint,
    Forecast,
    Repricing,
    Saving,
    Share,
    TokenPoint,
)
from app.core.ledger.selection import Selection
from app.core.pricing.prices import PriceBook
from app.core.providers import registry
from app.core.storage.db import Database

TOP_CONVERSATIONS = 10
OVERALL = "all"


@dataclass(frozen=True)
class FigureRequest:
    """What to read: the selection, how to bucket time, the what-if model and today's date.

    Attributes:
        whatif_model: the model to re-price the selection on; ``None`` picks the first model
            the pickers offer.
        today: the UTC day the forecast is for (a parameter so tests and midnight agree).
    """

    selection: Selection
    bucket: Bucket
    whatif_model: str | None
    today: date


@dataclass(frozen=True)
class DashboardFigures:
    """Every figure of one refresh. Money in credits, positive for spend.

    Attributes:
        month_to_date: ``(day, spend)`` of every day of this month so far, all spend (the
            forecast ignores the filters, source included, like the budgets it is measured
            against).
        balance: the balance is one account: its line ignores every filter but the days.
        daily_budget: the overall daily budget's limit, if one is set.
        monthly_budget: the overall monthly budget's limit, if one is set.
        whatif_models: models the what-if picker offers, in the pickers' order.
        providers: providers with spend, for the provider filter.
        models: models with spend, for the model filter.
        sources: sources with spend, ``chat`` first, for the source filter.
    """

    request: FigureRequest
    costs: tuple[CostPoint, ...]
    tokens: tuple[TokenPoint, ...]
    by_model: tuple[Share, ...]
    by_conversation: tuple[Share, ...]
    balance: tuple[BalancePoint, ...]
    low_balance: Decimal | None
    daily_budget: Decimal | None
    monthly_budget: Decimal | None
    forecast: Forecast
    month_to_date: tuple[tuple[date, Decimal], ...]
    savings_by_model: tuple[Saving, ...]
    savings_by_conversation: tuple[Saving, ...]
    repricing: Repricing | None
    whatif_models: tuple[str, ...]
    providers: tuple[str, ...]
    models: tuple[str, ...]
    sources: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        """What the selection cost."""
        return sum((point.cost for point in self.costs), Decimal(0))


def load_figures(db: Database, request: FigureRequest) -> DashboardFigures:
    """Read every figure for ``request`` in one read transaction (call on the task thread)."""
    with db.read() as session:
        return _read(session, request)


def _read(session: Session, request: FigureRequest) -> DashboardFigures:
    selection, bucket, today = request.selection, request.bucket, request.today
    overall = {b.period: b.limit for b in alerts.budgets(session) if b.scope == OVERALL}
    whatif_models = _whatif_models(session)
    target = request.whatif_model or (whatif_models[0] if whatif_models else None)
    repricing = (
        analysis.reprice(session, selection, target, PriceBook.load(session)) if target else None
    )
    choices = spend.choices(session)
    forecast = analysis.forecast(session, today, overall.get("month"))
    return DashboardFigures(
        request=request,
        costs=tuple(analysis.spend_over_time(session, selection, bucket)),
        tokens=tuple(analysis.tokens_over_time(session, selection, bucket)),
        by_model=tuple(analysis.spend_by_model(session, selection)),
        by_conversation=tuple(
            analysis.spend_by_conversation(session, selection, top=TOP_CONVERSATIONS)
        ),
        balance=tuple(analysis.balance_over_time(session, selection)),
        low_balance=alerts.low_balance_threshold(session),
        daily_budget=overall.get("day"),
        monthly_budget=overall.get("month"),
        forecast=forecast,
        month_to_date=_month_to_date(session, forecast.month_start, today),
        savings_by_model=tuple(analysis.cache_savings_by_model(session, selection)),
        savings_by_conversation=tuple(
            analysis.cache_savings_by_conversation(session, selection, top=TOP_CONVERSATIONS)
        ),
        repricing=repricing,
        whatif_models=whatif_models,
        providers=tuple(choices.providers),
        models=tuple(choices.models),
        sources=tuple(choices.sources),
    )


def _month_to_date(
    session: Session, month_start: date, today: date
) -> tuple[tuple[date, Decimal], ...]:
    """Each day's spend this month, all providers and models (what the forecast counts)."""
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    month = Selection(since=month_start, until=today)
    for point in analysis.spend_over_time(session, month, Bucket.DAY):
        per_day[point.start] += point.cost
    return tuple(sorted(per_day.items()))


def _whatif_models(session: Session) -> tuple[str, ...]:
    """Every model the pickers offer, once each, in their order."""
    names = (choice.model for _, choices in registry.model_menu(session) for choice in choices)
    return tuple(dict.fromkeys(names))
