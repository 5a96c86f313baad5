"""What OpenAI says an organisation used and paid, per UTC day and model.

Two Admin API reports, read with an admin key (``sk-admin-…``; project keys are refused):

- the Usage API (``GET /v1/organization/usage/completions``, daily buckets grouped by model)
  gives tokens; its ``input_tokens`` already INCLUDES ``input_cached_tokens``;
- the Costs API (``GET /v1/organization/costs``, daily buckets grouped by ``line_item``) gives
  money, ``amount.value`` a USD float (read as an exact Decimal). A model's line items are named
  ``"<model>, <part>"`` (``"gpt-4o-2024-08-06, input"``, ``"…, cached input"``, ``"…, output"``).

How the day's money is split: a line item whose name before the first comma is a model the
Usage API reported that day is that model's ``usd``; every other line (images, embeddings,
storage, tools, a model the usage report does not have yet, a line without a name) goes to the
day's :attr:`ProviderRecords.unattributed_usd`, never spread over the models. So a model's
``usd`` is what OpenAI billed for it alone, ``None`` when no line named it, and the day's total
stays comparable as the models' ``usd`` plus the unattributed money.
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

BASE_URL = "https://api.openai.com"
USAGE_PATH = "/v1/organization/usage/completions"
COSTS_PATH = "/v1/organization/costs"
USAGE_LIMIT = 31  # the most daily buckets one usage page holds
COSTS_LIMIT = 180  # and one costs page
REFUSED = (
    "OpenAI refused the key for its usage and costs: they need an organisation admin key"
    " (sk-admin-…, Settings → Organization → Admin keys), not a project key."
)


@dataclass
class OpenAIUsage(AdminReports):
    """OpenAI's organisation records (see :class:`AdminReports` for the arguments)."""

    base_url: str = BASE_URL
    provider: str = "openai"

    def reader(self, key: ApiKey) -> PageReader:
        """Bearer auth; a refused key is the sentence about admin keys."""
        headers = {"Authorization": f"Bearer {key.secret}"}
        return PageReader(
            "OpenAI", headers, key.secret, REFUSED, retries=self.retries, transport=self.transport
        )

    def reports(self, start: datetime, end: datetime) -> Sequence[tuple[str, Query, Fold]]:
        """Usage by model, then costs by line item; times as unix seconds."""
        window = [
            ("start_time", str(int(start.timestamp()))),
            ("end_time", str(int(end.timestamp()))),
            ("bucket_width", "1d"),
        ]
        return (
            (
                USAGE_PATH,
                [*window, ("group_by[]", "model"), ("limit", str(USAGE_LIMIT))],
                add_usage,
            ),
            (
                COSTS_PATH,
                [*window, ("group_by[]", "line_item"), ("limit", str(COSTS_LIMIT))],
                add_costs,
            ),
        )


def add_usage(rows: DayRows, bucket: Any) -> None:
    """One usage bucket's results, by model (``input_tokens`` counts the cached ones too)."""
    day = bucket_day(bucket)
    for result in bucket_results(bucket):
        model = result.get("model")
        rows.add_tokens(
            day,
            model if isinstance(model, str) and model else "unknown",
            count(result.get("input_tokens")),
            count(result.get("output_tokens")),
            count(result.get("input_cached_tokens")),
        )


def add_costs(rows: DayRows, bucket: Any) -> None:
    """One costs bucket's line items, each on its model where the usage report has the model."""
    day = bucket_day(bucket)
    models = {name.lower(): name for name in rows.models(day)}
    for result in bucket_results(bucket):
        amount = result.get("amount")
        if not isinstance(amount, dict):
            continue
        currency = amount.get("currency")
        if isinstance(currency, str) and currency.lower() != "usd":
            raise ReconcileError(f"OpenAI reported costs in {currency}, not USD.")
        line = result.get("line_item")
        named = line.split(",", 1)[0].strip().lower() if isinstance(line, str) else ""
        rows.add_usd(day, models.get(named), usd(amount.get("value"), "OpenAI"))


def bucket_day(bucket: Any) -> date:
    """The UTC day a daily bucket starts on.

    Raises:
        ReconcileError: the bucket has no unix ``start_time``.
    """
    start = bucket.get("start_time") if isinstance(bucket, dict) else None
    if not isinstance(start, int) or isinstance(start, bool):
        raise ReconcileError("OpenAI sent a usage bucket without a start time.")
    return datetime.fromtimestamp(start, UTC).date()
