"""An organisation's two Admin API reports (usage, then costs), folded into day rows.

OpenAI and Anthropic publish the same pair: a paged usage report by day and model, then a paged
cost report. What differs is how each is asked (headers, times, paths, limits) and read (field
names, units): each provider's module says that; this says the rest once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx2

from app.core.keys import ApiKey
from app.core.reconcile.admin_keys import admin_key
from app.core.reconcile.paging import DayRows, PageReader, time_range
from app.core.reconcile.records import ProviderRecords

Query = list[tuple[str, str]]
Fold = Callable[[DayRows, Any], None]
"""Adds one bucket of a report to the day rows."""


@dataclass
class AdminReports:
    """One provider's usage and cost reports, one :class:`~app.core.reconcile.records.UsageSource`.

    Args:
        key: the admin key; by default looked up with :func:`admin_key` at fetch time.
        base_url: where the API is (``--base-url``, a test server); a trailing ``/v1`` is fine.
        now: the clock, for tests; the end of the range asked for is never after it.
    """

    key: ApiKey | None = None
    base_url: str = ""
    retries: int = 2
    now: Callable[[], datetime] | None = None
    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    provider: str = ""

    def fetch(self, since: date, until: date) -> ProviderRecords:
        """The provider's tokens and costs from ``since`` to ``until`` (UTC days, both included)."""
        start, end = time_range(since, until, self.now() if self.now else None)
        if start >= end:
            return ProviderRecords(self.provider, since, until)
        reader = self.reader(self.key or admin_key(self.provider))
        rows = DayRows()
        root = self.base_url.rstrip("/").removesuffix("/v1")
        try:
            for path, query, fold in self.reports(start, end):  # usage first: costs look it up
                for page in reader.pages(root + path, query):
                    for bucket in page["data"]:
                        fold(rows, bucket)
        finally:
            reader.close()
        return rows.records(self.provider, since, until)

    def reader(self, key: ApiKey) -> PageReader:
        """The paged reader with this provider's headers and refusal sentence."""
        raise NotImplementedError

    def reports(self, start: datetime, end: datetime) -> Sequence[tuple[str, Query, Fold]]:
        """Each report's path, query and fold, in the order they are read."""
        raise NotImplementedError
