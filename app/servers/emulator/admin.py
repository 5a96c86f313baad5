"""The organisation records endpoints of OpenAI and Anthropic, answered from what was served.

Both report daily buckets (every day of the range, an empty one with ``results: []``), a page
of at most ``limit`` buckets, and ``has_more`` / ``next_page`` with the cursor handed back as
``page``. Each provider's shapes are in :mod:`.admin_openai` and :mod:`.admin_anthropic`; this
module routes to them and holds what they share: the buckets of a range, the pages, and the
money a day's tokens cost by ledger unit (the shipped price table's list prices).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from app.core.errors import UnknownModel
from app.core.pricing.charges import TokenUsage, price_lines
from app.core.pricing.prices import catalog_rates
from app.servers.emulator.faults import UnknownFault, split_model
from app.servers.emulator.served import Served
from app.servers.emulator.wire import BadRequest, Call, EmulatorState, Refused
from app.servers.wire import Answer, Failure

DAY = timedelta(days=1)


def route(state: EmulatorState, call: Call) -> Answer | None:
    """The answer when ``call`` is for an admin records endpoint, else ``None``."""
    from app.servers.emulator import admin_anthropic, admin_openai

    endpoints: Mapping[str, Callable[[EmulatorState, Call], Answer]] = {
        admin_openai.USAGE_PATH: admin_openai.usage,
        admin_openai.COSTS_PATH: admin_openai.costs,
        admin_anthropic.USAGE_PATH: admin_anthropic.usage,
        admin_anthropic.COST_PATH: admin_anthropic.cost,
    }
    endpoint = endpoints.get(call.path.rstrip("/"))
    return endpoint(state, call) if call.method == "GET" and endpoint else None


@dataclass(frozen=True)
class Page:
    """The buckets of one answer (each bucket's first day) and the cursor to the next."""

    days: list[date]
    next_page: str | None


def page_of(start: datetime, end: datetime, call: Call, *, most: int) -> Page:
    """The daily buckets from ``start`` (snapped to its UTC day) up to ``end`` that this page
    holds: at most ``limit`` (default 7, at most ``most``), from the ``page`` cursor on.

    Raises:
        BadRequest: a limit out of range, or a cursor this emulator did not hand out.
    """
    limit = _limit(call.param("limit"), most)
    first = start.date()
    if cursor := call.param("page"):
        first = _day_of_cursor(cursor)
    days: list[date] = []
    day = first
    while datetime.combine(day, time(), UTC) < end and len(days) <= limit:
        days.append(day)
        day += DAY
    more = len(days) > limit
    return Page(days[:limit], _cursor(days[limit]) if more else None)


UsageResult = Callable[[Served, str | None], dict[str, Any]]
"""One served row as a usage report's result (its model, or ``None`` when not grouped so)."""
DayBucket = Callable[[date, list[dict[str, Any]]], dict[str, Any]]
"""A day's results as the provider's bucket."""


def usage_buckets(
    state: EmulatorState,
    call: Call,
    provider: str,
    window: tuple[datetime, datetime],
    result: UsageResult,
    bucket: DayBucket,
) -> tuple[list[dict[str, Any]], str | None]:
    """A usage report's page of daily buckets from what was served, by model when grouped so
    (else one summed result a day), and the next page's cursor."""
    page = page_of(*window, call, most=31)
    per_model = "model" in call.query.get("group_by[]", ())
    served = by_day(state.served.rows(provider))
    buckets = []
    for day in page.days:
        rows = served.get(day, [])
        if not per_model and rows:
            rows = [total(rows)]
        buckets.append(bucket(day, [result(row, row.model if per_model else None) for row in rows]))
    return buckets, page.next_page


def fault_refusal(state: EmulatorState, call: Call, key: str, provider: str) -> None:
    """Stage the error fault asked for in the ``X-Emulator-Fault`` header, as chats do.

    Raises:
        BadRequest: an unknown fault.
        Refused: the fault answers with an error.
    """
    try:
        _, fault = split_model("records", call.fault_header)
    except UnknownFault as error:
        raise BadRequest(str(error)) from None
    failure = state.faults.failure(fault, "records", key, provider=provider)
    if failure is not None:
        raise Refused(failure, fault)


def not_admin(message: str) -> Refused:
    """The refusal (401) of a key that is not an admin key."""
    return Refused(Failure(401, "auth", message))


def unit_credits(served: Served) -> dict[str, Decimal]:
    """What a day's tokens of one model cost, in credits by ledger unit (``prompt``,
    ``cache_read``, ``cache_write``, ``cache_write_1h``, ``completion``), at that day's list
    prices; empty for a model the price table does not know."""
    try:
        rates = catalog_rates(
            served.model, served.provider, 0, datetime.combine(served.day, time(12), UTC)
        )
    except UnknownModel:
        return {}
    written = served.cache_write_tokens + served.cache_write_1h_tokens
    usage = TokenUsage(
        prompt_tokens=served.input_tokens - served.cached_input_tokens - written,
        completion_tokens=served.output_tokens,
        cache_write_tokens=served.cache_write_tokens,
        cache_write_1h_tokens=served.cache_write_1h_tokens,
        cache_read_tokens=served.cached_input_tokens,
    )
    credits: dict[str, Decimal] = {}
    for line in price_lines(usage, rates):
        if line.value:
            credits[line.token_type] = credits.get(line.token_type, Decimal(0)) + line.value
    return credits


def total(rows: list[Served]) -> Served:
    """Several models' rows of one day as one (the answer when not grouped by model)."""
    summed = rows[0]
    for row in rows[1:]:
        summed = summed.plus(row)
    return summed


def by_day(rows: list[Served]) -> dict[date, list[Served]]:
    """A provider's tally grouped by day."""
    grouped: dict[date, list[Served]] = {}
    for row in rows:
        grouped.setdefault(row.day, []).append(row)
    return grouped


def _limit(value: str | None, most: int) -> int:
    if value is None:
        return 7
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(f"limit must be a whole number, not {value!r}.") from None
    if not 1 <= limit <= most:
        raise BadRequest(f"limit must be between 1 and {most}, not {limit}.")
    return limit


def _cursor(day: date) -> str:
    return "page_" + base64.urlsafe_b64encode(day.isoformat().encode()).decode()


def _day_of_cursor(cursor: str) -> date:
    try:
        return date.fromisoformat(base64.urlsafe_b64decode(cursor.removeprefix("page_")).decode())
    except ValueError:
        raise BadRequest(f"Invalid page cursor {cursor!r}.") from None
