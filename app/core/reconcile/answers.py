"""One GET of a provider's account API whose answer is a single JSON object (no pages).

OpenRouter's key usage and DeepSeek's and Moonshot's balances are one object each; the paged
usage reports go through :class:`~app.core.reconcile.paging.PageReader`. Failures become the
same sentences a chat request's do (:mod:`app.core.providers.http`: the key scrubbed, the
provider's own message quoted), as one :class:`ReconcileError`; numbers are read as Decimal
(``parse_float``), so a USD float never passes through binary floating point.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx2

from app.core.errors import ProviderError
from app.core.providers.http import raise_for_status, transport_error
from app.core.reconcile.records import ReconcileError


def get_object(
    client: httpx2.Client,
    url: str,
    *,
    provider: str,
    secret: str,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """GET ``url`` with the client's headers and return its JSON object.

    Raises:
        ReconcileError: no answer, an error status (401, 403, 429, 5xx...) or a body that is not
            a JSON object; one sentence without the key.
    """
    try:
        response = client.get(url, params=params)
    except httpx2.HTTPError as error:
        raise ReconcileError(str(transport_error(error, provider))) from None
    try:
        raise_for_status(response, provider, secret)
    except ProviderError as error:
        raise ReconcileError(str(error)) from None
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ReconcileError(f"{provider} sent an answer Tallybook cannot read (not JSON).")
    return body


def amount(value: Any, what: str, provider: str) -> Decimal:
    """A money field (a JSON number read as Decimal, or a decimal string) as an exact Decimal.

    Raises:
        ReconcileError: it is missing or not a number.
    """
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            found = Decimal(value.strip())
        except ArithmeticError:
            found = Decimal("NaN")
        if found.is_finite():
            return found
    raise ReconcileError(f"{provider} sent a {what} that is not a number ({value!r}).")
