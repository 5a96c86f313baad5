"""What Anthropic says an organisation used and paid, per UTC day and model.

Two Admin API reports, read with an organisation's admin key (``sk-ant-admin…``) in
``x-api-key`` and ``anthropic-version: 2023-06-01``; individual accounts have no Admin API, and
a key Anthropic will not take for it (401, 403, 404) is said so plainly:

- the usage report (``GET /v1/organizations/usage_report/messages``, daily buckets grouped by
  model; an empty day is ``results: []``) gives ``uncached_input_tokens``,
  ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``,
  ``cache_read_input_tokens`` and ``output_tokens``; a row's input is all four input counts, its
  cached input the cache reads;
- the cost report (``GET /v1/organizations/cost_report``, grouped by ``description`` so each row
  names its ``model``) gives ``amount`` as a decimal string in CENTS (``"123.45"`` is $1.2345),
  divided by 100 exactly. A row without a model (web search, code execution) is the day's
  :attr:`ProviderRecords.unattributed_usd`, never spread over the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.core.keys import ApiKey
from app.core.reconcile.admin_reports import AdminReports, Fold, Query
from app.core.reconcile.paging import DayRows, PageReader, bucket_results, count, usd
from app.core.reconcile.records import ReconcileError

BASE_URL = "https://api.anthropic.com"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
VERSION = "2023-06-01"
LIMIT = 31  # the most daily buckets one page of either report holds
NO_ADMIN_API = (
    "Anthropic's usage reports need an organisation's admin key (Console → Settings →"
    " Organization); an individual account has none."
)


@dataclass
class AnthropicUsage(AdminReports):
    """Anthropic's organisation records (see :class:`AdminReports` for the arguments)."""

    base_url: str = BASE_URL
    provider: str = "anthropic"

    def reader(self, key: ApiKey) -> PageReader:
        """``x-api-key`` auth; any refusal (401, 403, 404) means no organisation admin key."""
        headers = {"x-api-key": key.secret, "anthropic-version": VERSION}
        return PageReader(
            "Anthropic",
            headers,
            key.secret,
            NO_ADMIN_API,
            refusal_statuses=frozenset({401, 403, 404}),
            retries=self.retries,
            transport=self.transport,
        )

    def reports(self, start: datetime, end: datetime) -> Sequence[tuple[str, Query, Fold]]:
        """Usage by model, then costs by description; times in RFC 3339."""
        window = [
            ("starting_at", start.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("ending_at", end.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("bucket_width", "1d"),
            ("limit", str(LIMIT)),
        ]
        return (
            (USAGE_PATH, [*window, ("group_by[]", "model")], add_usage),
            (COST_PATH, [*window, ("group_by[]", "description")], add_costs),
        )


def add_usage(rows: DayRows, bucket: Any) -> None:
    """One usage bucket's rows, by model: input is uncached + cache writes + cache reads."""
    day = bucket_day(bucket)
    for result in bucket_results(bucket):
        model = result.get("model")
        writes = result.get("cache_creation")
        writes = writes if isinstance(writes, dict) else {}
        read = count(result.get("cache_read_input_tokens"))
        rows.add_tokens(
            day,
            model if isinstance(model, str) and model else "unknown",
            count(result.get("uncached_input_tokens"))
            + count(writes.get("ephemeral_5m_input_tokens"))
            + count(writes.get("ephemeral_1h_input_tokens"))
            + read,
            count(result.get("output_tokens")),
            read,
        )


def add_costs(rows: DayRows, bucket: Any) -> None:
    """One cost bucket's rows, each on its model (cents to dollars, exactly)."""
    day = bucket_day(bucket)
    for result in bucket_results(bucket):
        currency = result.get("currency")
        if isinstance(currency, str) and currency.upper() != "USD":
            raise ReconcileError(f"Anthropic reported costs in {currency}, not USD.")
        model = result.get("model")
        cents = usd(result.get("amount"), "Anthropic")
        rows.add_usd(day, model if isinstance(model, str) and model else None, cents.scaleb(-2))


def bucket_day(bucket: Any) -> date:
    """The UTC day a daily bucket starts on.

    Raises:
        ReconcileError: the bucket has no RFC 3339 ``starting_at``.
    """
    start = bucket.get("starting_at") if isinstance(bucket, dict) else None
    try:
        moment = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    except ValueError:
        raise ReconcileError("Anthropic sent a usage bucket without a start time.") from None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()
