"""What OpenRouter says was spent, per UTC day and model, or today's total for one key.

Two sources, chosen by the key there is (:func:`openrouter_source`):

- **Activity** (``GET /api/v1/activity``, a *management* key: entry ``openrouter-management``
  or ``OPENROUTER_MANAGEMENT_KEY``): the last 30 *completed* UTC days in one answer, no pages,
  one row per day, model and provider endpoint ``{date, model, model_permaslug, endpoint_id,
  provider_name, usage, byok_usage_inference, requests, prompt_tokens, completion_tokens,
  reasoning_tokens}``. Rows of one day and model are summed over endpoints; a day's ``usd`` is
  ``usage`` (OpenRouter credits) plus ``byok_usage_inference`` (what the user's own provider key
  was billed), as the ledger charges a BYOK reply both. ``prompt_tokens`` includes cached
  tokens (not reported apart: ``cached_input_tokens`` is 0) and ``completion_tokens`` includes
  ``reasoning_tokens``, as in OpenRouter's usage objects. Today and days older than 30 are not
  in it: the range is clamped to what it covers (``ProviderRecords.since``/``until`` say so).
- **Key summary** (``GET /api/v1/key``, the chat key): the key's spend today, this UTC week and
  this UTC month, without models or tokens. Only today is a day, so the records hold one row:
  today, model :data:`EVERY_MODEL` (``"*"``: every model together), tokens 0, ``usd`` =
  ``usage_daily + byok_usage_daily``; a range that does not include today has no rows. The
  week and month are in :meth:`OpenRouterKeySummary.usage`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2

from app.core.clock import utcnow
from app.core.keys import ApiKey, get_key
from app.core.providers.http import TIMEOUT
from app.core.reconcile.admin_keys import admin_key
from app.core.reconcile.answers import get_object
from app.core.reconcile.paging import DayRows, PageReader, count, usd
from app.core.reconcile.records import (
    EVERY_MODEL,
    ProviderDay,
    ProviderRecords,
    ReconcileError,
    UsageSource,
)

BASE_URL = "https://openrouter.ai/api/v1"
ACTIVITY_DAYS = 30
REFUSED = (
    "OpenRouter refused the key for its activity: it needs a management key (Settings →"
    " Management keys), not a chat key."
)
PROVIDER = "openrouter"
NAME = "OpenRouter"


@dataclass
class OpenRouterActivity:
    """OpenRouter's daily activity by model (a management key), one ``UsageSource``.

    Args:
        key: the management key; by default looked up with :func:`admin_key` at fetch time.
        base_url: the API's base (``https://openrouter.ai/api/v1``; ``--base-url``, a test
            server); ``/activity`` is added to it.
        now: the clock (naive UTC), for tests.
    """

    key: ApiKey | None = None
    base_url: str = BASE_URL
    retries: int = 2
    now: Callable[[], datetime] = utcnow
    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    provider: str = PROVIDER

    def fetch(self, since: date, until: date) -> ProviderRecords:
        """The activity from ``since`` to ``until``, within the 30 completed days it covers."""
        today = self.now().date()
        first = max(since, today - timedelta(days=ACTIVITY_DAYS))
        last = min(until, today - timedelta(days=1))
        if first > last:
            return ProviderRecords(self.provider, first, last)
        key = self.key or admin_key(PROVIDER)
        reader = PageReader(
            NAME,
            {"Authorization": f"Bearer {key.secret}"},
            key.secret,
            REFUSED,
            retries=self.retries,
            transport=self.transport,
        )
        # One answer holds every day; a single day is asked for alone (``date``).
        params = [("date", first.isoformat())] if first == last else []
        rows = DayRows()
        try:
            for page in reader.pages(f"{self.base_url.rstrip('/')}/activity", params):
                for item in page["data"]:
                    add_activity(rows, item)
        finally:
            reader.close()
        return rows.records(self.provider, first, last)


def add_activity(rows: DayRows, item: Any) -> None:
    """One activity row's tokens and money on its day and model.

    Raises:
        ReconcileError: the row has no date or model, or money that is not a number.
    """
    if not isinstance(item, dict):
        raise ReconcileError("OpenRouter sent an activity row Tallybook cannot read.")
    day = _day(item.get("date"))
    model = item.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ReconcileError(f"OpenRouter sent an activity row for {day} without a model.")
    rows.add_tokens(
        day, model, count(item.get("prompt_tokens")), count(item.get("completion_tokens")), 0
    )
    spent = usd(item.get("usage") or 0, NAME) + usd(item.get("byok_usage_inference") or 0, NAME)
    rows.add_usd(day, model, spent)


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ReconcileError(
            f"OpenRouter sent an activity row whose date is not a day ({value!r})."
        ) from None


@dataclass(frozen=True)
class KeyUsage:
    """One key's spend as ``/api/v1/key`` reports it, in USD (BYOK usage included).

    Attributes:
        today, week, month: the current UTC day, week (Monday to Sunday) and month.
        total: everything the key ever spent.
        limit_remaining: what its credit limit leaves, ``None`` without a limit.
    """

    label: str
    today: Decimal
    week: Decimal
    month: Decimal
    total: Decimal
    limit_remaining: Decimal | None
    at: datetime


@dataclass
class OpenRouterKeySummary:
    """Today's spend of the chat key (no management key needed), one ``UsageSource``.

    Args:
        key: the chat key; by default the ``openrouter`` endpoint's, looked up at fetch time.
    """

    key: ApiKey | None = None
    base_url: str = BASE_URL
    now: Callable[[], datetime] = utcnow
    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    provider: str = PROVIDER

    def usage(self) -> KeyUsage:
        """The key's spend today, this week, this month and in all.

        Raises:
            ReconcileError: no key, a refusal, a failure, or an answer without the figures.
        """
        key = self.key or get_key(PROVIDER)
        if key is None:
            raise ReconcileError(
                "No OpenRouter key is set: save one in Keys (or set OPENROUTER_API_KEY), or a"
                " management key for the daily activity."
            )
        headers = {"Authorization": f"Bearer {key.secret}"}
        with httpx2.Client(timeout=TIMEOUT, headers=headers, transport=self.transport) as client:
            body = get_object(
                client, f"{self.base_url.rstrip('/')}/key", provider=NAME, secret=key.secret
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise ReconcileError("OpenRouter sent key usage Tallybook cannot read.")

        def spent(name: str) -> Decimal:
            return usd(data.get(name) or 0, NAME) + usd(data.get(f"byok_{name}") or 0, NAME)

        remaining = data.get("limit_remaining")
        label = data.get("label")
        return KeyUsage(
            label=label if isinstance(label, str) else "",
            today=spent("usage_daily"),
            week=spent("usage_weekly"),
            month=spent("usage_monthly"),
            total=spent("usage"),
            limit_remaining=None if remaining is None else usd(remaining, NAME),
            at=self.now(),
        )

    def fetch(self, since: date, until: date) -> ProviderRecords:
        """Today's spend as one :data:`EVERY_MODEL` row, when the range includes today."""
        today = self.now().date()
        if not since <= today <= until:
            return ProviderRecords(self.provider, since, until)
        found = self.usage()
        row = ProviderDay(today, EVERY_MODEL, input_tokens=0, output_tokens=0, usd=found.today)
        return ProviderRecords(self.provider, today, today, (row,))


def openrouter_source(base_url: str | None = None) -> UsageSource:
    """The activity with a management key, else the chat key's summary of today.

    Raises:
        ReconcileError: from the fetch, when neither key is there.
    """
    try:
        key = admin_key(PROVIDER)
    except ReconcileError:
        return OpenRouterKeySummary(base_url=base_url or BASE_URL)
    return OpenRouterActivity(key, base_url=base_url or BASE_URL)
