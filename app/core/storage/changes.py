"""What a write changed, in the kinds of data screens show: :class:`Changes`.

A committed write is described by the tables whose rows it changed; :data:`TABLE_KINDS` turns
each table into the kinds a screen can refresh on (Anki's ``OpChanges``). A write made by another
connection is seen only as "the file changed", so it counts as :data:`EVERYTHING`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    """Which kinds of data changed; combine with ``|``, test with ``&`` or ``bool()``.

    Attributes:
        ledger: money moved: transactions, the balance and its rules, the daily rollups, alerts.
        conversations: a conversation or a message was created, renamed, edited or deleted.
        settings: preferences, endpoints, price overrides, budgets, keys.
        requests: a request in flight was opened, saved its partial reply or ended; nothing on
            screen shows these rows alone (a settled request also moves money), so a streaming
            reply saving its text every half second refreshes no view.
    """

    ledger: bool = False
    conversations: bool = False
    settings: bool = False
    requests: bool = False

    def __or__(self, other: Changes) -> Changes:
        return Changes(
            self.ledger or other.ledger,
            self.conversations or other.conversations,
            self.settings or other.settings,
            self.requests or other.requests,
        )

    def __and__(self, other: Changes) -> Changes:
        return Changes(
            self.ledger and other.ledger,
            self.conversations and other.conversations,
            self.settings and other.settings,
            self.requests and other.requests,
        )

    def __bool__(self) -> bool:
        return self.ledger or self.conversations or self.settings or self.requests

    @classmethod
    def of_tables(cls, tables: Iterable[str]) -> Changes:
        """The kinds the rows of ``tables`` hold; a table not in :data:`TABLE_KINDS` (one this
        version does not know) counts as every kind, so nothing is ever left stale."""
        found = NOTHING
        for table in tables:
            found |= TABLE_KINDS.get(table, EVERYTHING)
        return found


NOTHING = Changes()
LEDGER = Changes(ledger=True)
CONVERSATIONS = Changes(conversations=True)
SETTINGS = Changes(settings=True)
REQUESTS = Changes(requests=True)
EVERYTHING = Changes(ledger=True, conversations=True, settings=True, requests=True)

TABLE_KINDS: dict[str, Changes] = {
    "transactions": LEDGER,
    "balance": LEDGER,
    "daily_totals": LEDGER,
    "conversation_days": LEDGER,
    "source_days": LEDGER,
    "alert_log": LEDGER,
    "conversations": CONVERSATIONS,
    "messages": CONVERSATIONS,
    "attachments": CONVERSATIONS,
    "settings": SETTINGS,
    "price_overrides": SETTINGS,
    "budgets": SETTINGS,
    "requests": REQUESTS,
}
"""Every table of :mod:`app.core.storage.models` and what its rows are to a screen."""
