"""Which spend (or which ledger rows): the one value every read of the ledger is asked with.

The dashboard, ``tallybook report``, the transactions view, the export and the budgets all say
what they cover with a :class:`Selection`, so "the last 30 days of gpt-4o from curl" means the
same rows wherever it is asked. :mod:`app.core.ledger.spend` answers it from the daily rollups;
:meth:`Selection.transaction_clauses` from the raw ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, or_, select

from app.core.pricing.units import Kind, kind_clause
from app.core.storage.models import Conversation, Transaction


@dataclass(frozen=True, kw_only=True)
class Selection:
    """A range of UTC days (inclusive; ``None`` is unbounded) and filters (empty means all).

    Attributes:
        sources: the sources of the rows' conversations (``chat`` for the chat window, or
            tools' names). Rows without a conversation (top-ups, spend recorded through the
            ledger API without one) come from no source: a source filter leaves them out.
        kinds: kinds of rows (input, cache writes of any lifetime, other units...), see
            :class:`~app.core.pricing.units.Kind`.
        estimated: only rows whose count Tallybook estimated (``True``) or the provider
            reported (``False``).
    """

    since: date | None = None
    until: date | None = None
    providers: frozenset[str] = field(default_factory=frozenset)
    models: frozenset[str] = field(default_factory=frozenset)
    sources: frozenset[str] = field(default_factory=frozenset)
    conversation_id: int | None = None
    token_types: frozenset[str] = field(default_factory=frozenset)
    kinds: frozenset[Kind] = field(default_factory=frozenset)
    estimated: bool | None = None

    def transaction_clauses(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses on ``transactions`` alone (the day range uses its time index)."""
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(Transaction.created_at >= datetime.combine(self.since, time.min))
        if self.until is not None:
            end = datetime.combine(self.until + timedelta(days=1), time.min)
            clauses.append(Transaction.created_at < end)
        if self.providers:
            clauses.append(Transaction.provider.in_(sorted(self.providers)))
        if self.models:
            clauses.append(Transaction.model.in_(sorted(self.models)))
        if self.conversation_id is not None:
            clauses.append(Transaction.conversation_id == self.conversation_id)
        if self.token_types:
            clauses.append(Transaction.token_type.in_(sorted(self.token_types)))
        if self.kinds:
            clauses.append(or_(*(kind_clause(Transaction.token_type, k) for k in self.kinds)))
        if self.estimated is not None:
            clauses.append(Transaction.estimated == self.estimated)
        if self.sources:
            # A subquery, not a join: the clauses stay on ``transactions`` alone, for every
            # caller (totals reads no conversation; the page and the export join their own).
            chosen = select(Conversation.id).where(Conversation.source.in_(sorted(self.sources)))
            clauses.append(Transaction.conversation_id.in_(chosen))
        return clauses
