"""OpenRouter's exact cost of a reply, fetched after it settled and kept beside its charge.

OpenRouter answers ``GET /api/v1/generation?id=gen-…`` with what it billed for one reply
(``data.total_cost``, USD). The reply's own ``usage.cost`` may be missing (an older answer, a
cut stream) and its token counts can be estimates; the generation record is the exact figure.
It is ready only a few seconds after the reply ends (a 404 until then), so it is asked for on a
background thread, again with backoff while it answers 404 (or 429, 5xx, no answer), and stored
as the request's ``provider_cost``. The charge itself is never changed: the comparison reads
both. A fetch that still fails changes nothing and is logged (never with the key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal

import httpx2
import tenacity
from sqlalchemy import update

from app.core import keys
from app.core.errors import ModelNotFound, ProviderError
from app.core.providers import vendors
from app.core.providers.http import raise_for_status, transport_error
from app.core.providers.registry import Endpoint
from app.core.providers.usage import credits_from_usd, dig
from app.core.storage.db import Database
from app.core.storage.models import Request
from app.core.types import RequestId

logger = logging.getLogger(__name__)

TIMEOUT = httpx2.Timeout(10.0)
ATTEMPTS = 6
"""1 + 5 retries with backoff 1, 2, 4, 8, 10 s: about half a minute for the record to appear."""


class _NotYet(ProviderError):
    """The generation is not recorded yet (404): ask again later."""

    retryable = True


class GenerationCosts:
    """Fetches OpenRouter's cost of settled replies on one background thread.

    Args:
        http: the metering client's HTTP client (thread-safe; closed by its owner after
            :meth:`close`).
        backoff: the first wait between attempts, in seconds (doubling, at most 10 s).
    """

    def __init__(
        self,
        db: Database,
        http: httpx2.Client,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = 1.0,
    ) -> None:
        self._db = db
        self._http = http
        self._attempts = attempts
        self._backoff = backoff
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[Decimal | None]] = set()

    def later(
        self,
        endpoint: Endpoint,
        request_id: RequestId,
        response_id: str,
        key_for: Callable[[str], keys.ApiKey | None],
    ) -> Future[Decimal | None] | None:
        """Fetch and keep the cost of an OpenRouter reply in the background (its key from
        ``key_for``); ``None``, and nothing done, for a reply from anywhere else or without a
        key. Never raises: the reply is charged already."""
        wanted = vendors.vendor_of(endpoint.id, endpoint.base_url) == "openrouter"
        if not wanted or not response_id.startswith("gen-"):
            return None
        url = f"{endpoint.base_url.rstrip('/')}/generation"
        try:
            key = key_for(endpoint.id)
            with self._lock:
                if key is None or self._stopping.is_set():
                    return None
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="openrouter-cost")
                future = self._pool.submit(self._fetch_and_keep, request_id, url, response_id, key)
                self._pending.add(future)
        except Exception as error:  # a key store or thread failure must not undo the reply
            logger.warning(
                "OpenRouter's cost of request %s was not asked for: %s",
                request_id,
                type(error).__name__,
            )
            return None
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Decimal | None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the fetches asked for so far (tests; a clean shutdown)."""
        with self._lock:
            pending = list(self._pending)
        futures.wait(pending, timeout)

    def close(self) -> None:
        """Stop: fetches not started are dropped, one under way stops at its next wait."""
        with self._lock:
            self._stopping.set()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def fetch(self, url: str, generation_id: str, key: keys.ApiKey) -> Decimal:
        """The generation's ``total_cost`` in credits, asking again while it is not ready.

        Raises:
            ProviderError: still not there after every attempt, refused, or unreadable.
        """
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda error: getattr(error, "retryable", False)),
            stop=tenacity.stop_after_attempt(self._attempts),
            wait=tenacity.wait_exponential(multiplier=self._backoff, max=10),
            sleep=self._sleep,
            reraise=True,
        )
        cost: Decimal = retrying(self._get, url, generation_id, key)
        return cost

    def _fetch_and_keep(
        self, request_id: RequestId, url: str, generation_id: str, key: keys.ApiKey
    ) -> Decimal | None:
        try:
            cost = self.fetch(url, generation_id, key)
            with self._db.write() as session:
                session.execute(
                    update(Request).where(Request.id == request_id).values(provider_cost=cost)
                )
        except Exception as error:  # logged, never raised: the reply was charged already
            shown = str(error) if isinstance(error, ProviderError) else type(error).__name__
            logger.warning("OpenRouter's cost of request %s was not kept: %s", request_id, shown)
            return None
        return cost

    def _get(self, url: str, generation_id: str, key: keys.ApiKey) -> Decimal:
        headers = {"Authorization": f"Bearer {key.secret}"}
        try:
            response = self._http.get(
                url, params={"id": generation_id}, headers=headers, timeout=TIMEOUT
            )
        except httpx2.HTTPError as error:
            raise transport_error(error, "OpenRouter") from None
        try:
            raise_for_status(response, "OpenRouter", key.secret)
        except ModelNotFound:
            raise _NotYet(f"OpenRouter has no record of {generation_id} yet.", 404) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        cost = credits_from_usd(dig(body, "data", "total_cost"))
        if cost is None:
            raise ProviderError(f"OpenRouter's record of {generation_id} has no total_cost.")
        return cost

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise ProviderError("Stopped before OpenRouter's record was ready.")
