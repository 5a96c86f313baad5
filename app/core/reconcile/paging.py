"""Reading a provider's paginated records API: the time range asked for, pages, and errors.

OpenAI's and Anthropic's usage and cost reports page alike (``has_more`` and ``next_page``,
handed back as ``page``), so one reader serves both. A rate limit, a server error or a dropped
connection is tried again a few times (honouring ``Retry-After``); whatever still fails is one
:class:`ReconcileError` sentence with no key in it. Bodies are read with ``parse_float=Decimal``,
so a provider's USD float never passes through binary floating point.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx2
import tenacity

from app.core.providers.http import TIMEOUT, transport_error
from app.core.reconcile.records import ProviderDay, ProviderRecords, ReconcileError
from app.core.redaction import redact

MAX_PAGES = 1000
"""A provider that keeps saying ``has_more`` is stopped here rather than followed forever."""
RETRY_WAIT_CAP = 10.0


class _Transient(ReconcileError):
    """A failure that may pass: a rate limit, a server error, a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def time_range(since: date, until: date, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The aware UTC range ``[start of since, end of until)``, its end never after ``now``.

    Providers refuse (or misanswer) an end in the future, so today's range stops at now.
    """
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)
    current = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return start, min(end, current)


def usd(value: Any, provider: str) -> Decimal:
    """A money field as an exact Decimal (a JSON number read as Decimal, or a string).

    Raises:
        ReconcileError: the field is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ReconcileError(f"{provider} sent a cost that is not a number ({value!r}).")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ReconcileError(f"{provider} sent a cost that is not a number ({value!r}).") from None


def count(value: Any) -> int:
    """A token count; a missing or null one is zero."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class PageReader:
    """GETs every page of one records endpoint with one long-lived client.

    Args:
        provider: the provider's name in the user's words (``OpenAI``).
        headers: the auth and version headers; their key is ``secret``.
        refused: the sentence for a key the provider will not take (401, 403, and any status in
            ``refusal_statuses``).
        transport: an injectable httpx transport (tests use real servers instead).
    """

    def __init__(
        self,
        provider: str,
        headers: dict[str, str],
        secret: str,
        refused: str,
        *,
        refusal_statuses: frozenset[int] = frozenset({401, 403}),
        retries: int = 2,
        backoff: float = 0.5,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self._provider = provider
        self._secret = secret
        self._refused = refused
        self._refusal_statuses = refusal_statuses
        self._retries = retries
        self._backoff = backoff
        self._client = httpx2.Client(timeout=TIMEOUT, headers=headers, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def pages(self, url: str, params: Sequence[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """Each page's JSON object, following ``next_page`` while ``has_more``.

        Raises:
            ReconcileError: a refusal, a failure that persisted, or a body of the wrong shape.
        """
        page: str | None = None
        for _ in range(MAX_PAGES):
            query = [*params, ("page", page)] if page else list(params)
            body = self._get_with_retries(url, query)
            yield body
            if body.get("has_more") is not True:
                return
            following = body.get("next_page")
            if not isinstance(following, str) or not following or following == page:
                raise ReconcileError(
                    f"{self._provider} said more records follow but gave no next page."
                )
            page = following
        raise ReconcileError(f"{self._provider} kept sending pages past {MAX_PAGES}; stopped.")

    def _get_with_retries(self, url: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self._retries + 1),
            wait=self._wait,
            reraise=True,
        )
        try:
            body: dict[str, Any] = retrying(self._get, url, query)
        except _Transient as error:
            raise ReconcileError(str(error)) from None
        return body

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), RETRY_WAIT_CAP)
        return float(self._backoff * 2 ** (state.attempt_number - 1))

    def _get(self, url: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        provider = self._provider
        try:
            response = self._client.get(url, params=tuple(query))
        except httpx2.HTTPError as error:
            raise _Transient(str(transport_error(error, provider))) from None
        status = response.status_code
        if status in self._refusal_statuses:
            raise ReconcileError(self._refused)
        if status == 429:
            raise _Transient(
                f"{provider} is limiting requests for its usage records (429); try again in a"
                " minute.",
                _retry_after(response),
            )
        if status >= 500:
            raise _Transient(
                f"{provider}'s usage records are unavailable right now ({status}); try again later."
            )
        if status >= 400:
            detail = redact(response.text[:200], [self._secret]).strip().rstrip(".")
            raise ReconcileError(
                f"{provider} refused the request for its usage records ({status}): {detail}."
            )
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ReconcileError(f"{provider} sent usage records Tallybook cannot read.")
        return body


def bucket_results(bucket: Any) -> list[dict[str, Any]]:
    """A time bucket's result rows (an empty bucket has none)."""
    results = bucket.get("results") if isinstance(bucket, dict) else None
    return [row for row in results if isinstance(row, dict)] if isinstance(results, list) else []


def _retry_after(response: httpx2.Response) -> float | None:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class DayRows:
    """Token counts and money by UTC day and model, summed as the pages arrive."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[date, str], tuple[int, int, int]] = {}
        self._usd: dict[tuple[date, str], Decimal] = {}
        self._unattributed: dict[date, Decimal] = {}

    def add_tokens(
        self, day: date, model: str, input_tokens: int, output: int, cached: int
    ) -> None:
        """Add one result row's tokens (``input_tokens`` includes ``cached``)."""
        was = self._tokens.get((day, model), (0, 0, 0))
        self._tokens[day, model] = (was[0] + input_tokens, was[1] + output, was[2] + cached)

    def models(self, day: date) -> set[str]:
        """The models that have tokens on ``day``."""
        return {model for when, model in self._tokens if when == day}

    def add_usd(self, day: date, model: str | None, amount: Decimal) -> None:
        """Add money to a model's row, or to the day's unattributed money when ``model`` is
        ``None``."""
        if model is None:
            self._unattributed[day] = self._unattributed.get(day, Decimal(0)) + amount
        else:
            self._usd[day, model] = self._usd.get((day, model), Decimal(0)) + amount

    def records(self, provider: str, since: date, until: date) -> ProviderRecords:
        """Everything added, for the days from ``since`` to ``until``."""
        keys = sorted({*self._tokens, *self._usd})
        days = tuple(
            ProviderDay(
                day=day,
                model=model,
                input_tokens=self._tokens.get((day, model), (0, 0, 0))[0],
                output_tokens=self._tokens.get((day, model), (0, 0, 0))[1],
                cached_input_tokens=self._tokens.get((day, model), (0, 0, 0))[2],
                usd=self._usd.get((day, model)),
            )
            for day, model in keys
            if since <= day <= until
        )
        unattributed = tuple(
            (day, amount)
            for day, amount in sorted(self._unattributed.items())
            if since <= day <= until and amount
        )
        return ProviderRecords(provider, since, until, days, unattributed_usd=unattributed)
