"""The ledger beside a provider's records, per UTC day and model, and what each difference is.

The ledger's side is read through the one reader of the rollups (:mod:`app.core.ledger.spend`),
for every endpoint of the provider (``openai``, and a custom endpoint whose base URL is
OpenAI's). Names on both sides are matched the way the price table resolves them
(:meth:`PriceBook.rates`): ``gpt-4o-2024-08-06`` at the provider and ``gpt-4o`` in the ledger
are one row because they are one price, while ``gpt-4o-2024-05-13``, priced apart, is its own.
A provider that reports a day only as a whole (:data:`EVERY_MODEL`) gets that day as one row.

Spend an earlier ``--import-missing`` recorded (:mod:`app.core.reconcile.importer`, filed under
the source ``<provider> usage``) is kept apart from what Tallybook metered: a row's status
compares the provider with the metered spend only, so imported spend never hides that it came
from outside, and the import reads from the row what it has already recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.orm import Session

from app.core import money
from app.core.ledger import spend
from app.core.ledger.selection import Selection
from app.core.pricing.prices import PriceBook, normalize_model
from app.core.providers import registry, vendors
from app.core.reconcile.records import EVERY_MODEL, BalanceSnapshot, ProviderDay, ProviderRecords

TOLERANCE = Decimal("0.01")
"""Figures within 1% of the larger of them are a match (rounding, a bucket's edge)."""
SLACK_USD = Decimal("0.01")
"""So is money within a cent, however small the day's spend."""
_ZERO = Decimal(0)


class Status(StrEnum):
    """What one day and model's figures say."""

    MATCH = "match"
    DRIFT = "drift"
    """Both saw the spend, and their figures differ beyond 1% and a cent (tokens where the
    provider gives no money)."""
    OUTSIDE = "outside"
    """The provider saw spend Tallybook did not meter: another tool, another computer."""
    MISSING = "missing"
    """The ledger has spend the provider does not show (yet: its delay, or a wrong key)."""


@dataclass(frozen=True)
class Usage:
    """One side's figures for a day and model.

    Attributes:
        input_tokens: every input token, cache reads and writes included (as the providers
            count them).
        cached_input_tokens: of those, the cache reads.
        usd: what it cost; ``None`` where the provider gives only tokens.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    usd: Decimal | None = _ZERO

    @property
    def empty(self) -> bool:
        """Nothing used and nothing charged (an empty bucket)."""
        return not (self.input_tokens or self.output_tokens or self.usd)

    def __add__(self, other: Usage) -> Usage:
        usd = None
        if self.usd is not None or other.usd is not None:
            usd = (self.usd or _ZERO) + (other.usd or _ZERO)
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            usd,
        )


@dataclass(frozen=True)
class Row:
    """One UTC day and model: the ledger's metered spend, the provider's, and what is imported.

    Attributes:
        model: the price table's name for the model (``gpt-4o`` for ``gpt-4o-2024-08-06``).
        ledger: what Tallybook metered (imported spend not included).
        provider: what the provider reports (all zero where it shows nothing).
        imported: what earlier imports of outside spend recorded for this day and model.
    """

    day: date
    model: str
    status: Status
    ledger: Usage
    provider: Usage
    imported: Usage = field(default_factory=Usage)

    @property
    def difference_usd(self) -> Decimal | None:
        """The provider's figure less the ledger's (positive: the provider billed more)."""
        return _difference(self.ledger, self.provider)

    def needs_import(self) -> bool:
        """Whether it is outside spend an import would still record (money decides where the
        provider gives money, else tokens; a day's all-models row names no model to record)."""
        if self.status is not Status.OUTSIDE or self.model == EVERY_MODEL:
            return False
        seen, had = self.provider, self.imported
        if seen.usd is not None:
            return seen.usd > (had.usd or _ZERO)
        return seen.input_tokens > had.input_tokens or seen.output_tokens > had.output_tokens


@dataclass(frozen=True)
class Totals:
    """A reconciliation's rows summed; ``provider.usd`` is ``None`` when no row has money."""

    ledger: Usage
    provider: Usage
    imported: Usage

    @property
    def difference_usd(self) -> Decimal | None:
        """The provider's money less the ledger's, over the rows where the provider gives it."""
        return _difference(self.ledger, self.provider)


COLUMNS = (
    "Date (UTC)",
    "Model",
    "Status",
    "Ledger in",
    "Ledger out",
    "Provider in",
    "Provider out",
    "Ledger USD",
    "Provider USD",
    "Difference",
    "Imported",
)
"""A row's figures as the table and the window show them, in this order."""


def difference_words(figures: Row | Totals) -> str:
    """The provider's figure less the ledger's, as the faces show it: money where the provider
    gives money (``+$0.12``), else tokens (``+120 in / -4 out``)."""
    if (gap := figures.difference_usd) is not None:
        return ("+" if gap > 0 else "") + money.format_dollars(gap)
    tokens_in = figures.provider.input_tokens - figures.ledger.input_tokens
    tokens_out = figures.provider.output_tokens - figures.ledger.output_tokens
    return f"{tokens_in:+,} in / {tokens_out:+,} out"


@dataclass(frozen=True)
class Reconciliation:
    """The rows of a range, oldest day first, and their totals."""

    provider: str
    since: date
    until: date
    rows: tuple[Row, ...]
    balance: BalanceSnapshot | None = None
    unattributed_usd: Decimal | None = None
    """Money the provider billed on no model (images, tools, storage), over the range; ``None``
    when it reported none. Not in any row: the day's total is its rows' plus this."""

    @property
    def totals(self) -> Totals:
        """Every row summed."""
        ledger, provider, imported = Usage(), Usage(usd=None), Usage()
        for row in self.rows:
            ledger += row.ledger
            provider += row.provider
            imported += row.imported
        return Totals(ledger, provider, imported)

    def counts(self) -> dict[Status, int]:
        """How many rows have each status (every status present, zero or not)."""
        found = dict.fromkeys(Status, 0)
        for row in self.rows:
            found[row.status] += 1
        return found


def reconcile(session: Session, records: ProviderRecords, book: PriceBook) -> Reconciliation:
    """Compare the ledger with ``records`` over their range of days.

    Args:
        book: the price table whose model resolution matches names on both sides
            (:meth:`PriceBook.load` of the same ledger, so the user's overrides count).
    """
    resolve = _Resolver(book, records.provider)
    whole = {d.day for d in records.days if d.model == EVERY_MODEL}

    def key_of(day: date, model: str) -> tuple[date, str]:
        return (day, EVERY_MODEL) if day in whole else (day, resolve(model))

    names = ledger_providers(session, records.provider)
    everything = _ledger(session, records, names, frozenset(), key_of)
    imported = _ledger(session, records, names, frozenset({source_of(records.provider)}), key_of)
    # Where the provider gives money, a day and model it does not show cost it nothing.
    nothing = Usage(usd=_ZERO if any(d.usd is not None for d in records.days) else None)
    reported: dict[tuple[date, str], Usage] = {}
    for day in records.days:
        key = key_of(day.day, day.model)
        reported[key] = reported.get(key, Usage(usd=None)) + _usage_of(day)
    rows = []
    for key in sorted(everything.keys() | reported.keys()):
        had = imported.get(key, Usage())
        metered = _less(everything.get(key, Usage()), had)
        provider = reported.get(key, nothing)
        if metered.empty and provider.empty and had.empty:
            continue
        rows.append(Row(*key, status_of(metered, provider), metered, provider, had))
    unattributed = [usd for _, usd in records.unattributed_usd]
    return Reconciliation(
        records.provider,
        records.since,
        records.until,
        tuple(rows),
        records.balance,
        sum(unattributed, _ZERO) if unattributed else None,
    )


def status_of(ledger: Usage, provider: Usage) -> Status:
    """The status of one day and model, from the metered spend and the provider's figures.

    Money is compared where the provider gives it (a match within 1% of the larger figure, or
    within a cent), else input and output tokens (each within 1% of the larger count).
    """
    if ledger.empty:
        return Status.OUTSIDE if not provider.empty else Status.MISSING
    if provider.empty:
        return Status.MISSING
    if provider.usd is not None:
        close = _close(ledger.usd or _ZERO, provider.usd, slack=SLACK_USD)
    else:
        close = _close(ledger.input_tokens, provider.input_tokens) and _close(
            ledger.output_tokens, provider.output_tokens
        )
    return Status.MATCH if close else Status.DRIFT


def source_of(provider: str) -> str:
    """The source imported outside spend is filed under (``openai usage``)."""
    return f"{provider} usage"


def ledger_providers(session: Session, provider: str) -> frozenset[str]:
    """The ledger's provider names whose spend the provider bills: its own endpoint and every
    endpoint whose base URL is the provider's."""
    found = {provider}
    for endpoint in registry.all_endpoints(session):
        if vendors.vendor_of(endpoint.id, endpoint.base_url) == provider:
            found.add(endpoint.id)
    return frozenset(found)


class _Resolver:
    """A model name as the price table resolves it, asked once per name."""

    def __init__(self, book: PriceBook, provider: str) -> None:
        self._book = book
        self._provider = provider
        self._names: dict[str, str] = {}

    def __call__(self, model: str) -> str:
        if (found := self._names.get(model)) is None:
            resolved = self._book.rates(model, provider=self._provider).model
            found = self._names[model] = normalize_model(resolved)
        return found


def _ledger(
    session: Session,
    records: ProviderRecords,
    providers: frozenset[str],
    sources: frozenset[str],
    key_of: Callable[[date, str], tuple[date, str]],
) -> dict[tuple[date, str], Usage]:
    """The ledger's spend per day and resolved model (of ``sources`` only, if any given)."""
    selection = Selection(
        since=records.since, until=records.until, providers=providers, sources=sources
    )
    found: dict[tuple[date, str], Usage] = {}
    for row in spend.rows(session, selection, (spend.By.DAY, spend.By.MODEL)):
        assert row.day is not None  # grouped by day
        key = key_of(row.day, row.model)
        cached = row.cache_read_tokens
        usage = Usage(
            row.input_tokens + row.cache_write_tokens + cached,
            row.output_tokens,
            cached,
            money.credits_to_usd(row.cost),
        )
        found[key] = found.get(key, Usage()) + usage
    return found


def _usage_of(day: ProviderDay) -> Usage:
    return Usage(day.input_tokens, day.output_tokens, day.cached_input_tokens, day.usd)


def _less(total: Usage, part: Usage) -> Usage:
    return Usage(
        total.input_tokens - part.input_tokens,
        total.output_tokens - part.output_tokens,
        total.cached_input_tokens - part.cached_input_tokens,
        (total.usd or _ZERO) - (part.usd or _ZERO),
    )


def _close(ours: Decimal | int, theirs: Decimal | int, *, slack: Decimal = _ZERO) -> bool:
    gap = abs(Decimal(ours) - Decimal(theirs))
    return gap <= slack or gap <= max(abs(Decimal(ours)), abs(Decimal(theirs))) * TOLERANCE


def _difference(ledger: Usage, provider: Usage) -> Decimal | None:
    if provider.usd is None:
        return None
    return provider.usd - (ledger.usd or _ZERO)
