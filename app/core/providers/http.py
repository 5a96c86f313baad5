"""The one place HTTP failures become the app's errors, with keys scrubbed from every message."""

from __future__ import annotations

import socket
from typing import Any

import httpx2

from app.core.errors import (
    AuthenticationFailed,
    ModelNotFound,
    ProviderError,
    ProviderOverloaded,
    ProviderUnreachable,
    RateLimited,
)
from app.core.redaction import redact

TIMEOUT = httpx2.Timeout(connect=10.0, read=120.0, write=30.0, pool=10.0)
"""Connect fast, but let a long answer take its time (httpx's 5 s default cuts LLM streams)."""


def post_json(
    client: httpx2.Client,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    provider: str,
    secret: str,
) -> Any:
    """POST ``body`` and return the decoded JSON answer.

    Raises:
        AuthenticationFailed: 401 or 403.
        ProviderError: any other error status, a timeout, an unreachable host or a non-JSON body.
    """
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx2.HTTPError as error:
        raise transport_error(error, provider) from None
    raise_for_status(response, provider, secret)
    try:
        return response.json()
    except ValueError:
        raise ProviderError(
            f"{provider} sent an answer that is not JSON.", response.status_code
        ) from None


def count_field(answer: Any, field: str, provider: str) -> int:
    """A non-negative integer ``field`` of a JSON answer, or a clear error."""
    value = answer.get(field) if isinstance(answer, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProviderError(f"{provider}'s token count answer had no usable {field!r}.")
    return value


def transport_error(error: httpx2.HTTPError, provider: str) -> ProviderError:
    """The app's error for a request that got no answer, in a sentence the user can act on
    (never an exception's class name, never headers or keys)."""
    if isinstance(error, httpx2.TimeoutException):
        return ProviderUnreachable(f"{provider} did not answer in time.")
    where = _address(error)
    if isinstance(error, httpx2.ConnectError):
        if _caused_by(error, socket.gaierror):
            return ProviderUnreachable(
                f"Cannot reach {provider}: the name {where} was not found (check the address"
                " and the network)."
            )
        if _caused_by(error, ConnectionRefusedError):
            return ProviderUnreachable(
                f"Cannot reach {provider}: nothing is listening at {where} (is it running?)."
            )
        return ProviderUnreachable(
            f"Cannot reach {provider} at {where}: the connection failed (check the address and"
            " the network)."
        )
    if isinstance(error, httpx2.TransportError):
        return ProviderUnreachable(f"{provider} closed the connection before answering.")
    return ProviderUnreachable(f"Cannot reach {provider}: the request could not be sent.")


def _address(error: httpx2.HTTPError) -> str:
    """Where the request went: ``host:port``, the part of a URL that holds no secret."""
    try:
        url = error.request.url
    except RuntimeError:  # an error raised outside a request
        return "its address"
    return f"{url.host}:{url.port}" if url.port else url.host


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is somewhere in the chain of causes httpx and httpcore leave."""
    seen: BaseException | None = error
    for _ in range(16):  # a chain is a few links long; a cycle must not hang the caller
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def raise_for_status(response: httpx2.Response, provider: str, secret: str) -> None:
    """Raise the app's error for an error status, with the provider's own message, redacted.

    The body must have been read (``response.read()``) for a streamed response.
    """
    status = response.status_code
    if status < 400:
        return
    detail = redact(_error_detail(response), [secret])
    if status in (401, 403):
        raise AuthenticationFailed(f"{provider} refused the API key ({status}): {detail}", status)
    if status == 404:
        raise ModelNotFound(f"{provider} does not know this model or path (404): {detail}", status)
    if status == 429:
        raise RateLimited(
            f"{provider} is rate limiting requests (429): {detail}",
            status,
            retry_after=_retry_after(response),
        )
    if status >= 500:
        raise ProviderOverloaded(f"{provider} failed or is overloaded ({status}): {detail}", status)
    raise ProviderError(f"{provider} refused the request ({status}): {detail}", status)


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (numbers only; dates are rare from LLM APIs)."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _error_detail(response: httpx2.Response) -> str:
    """The provider's error message if it sent one in JSON, else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return str(data)[:200]
