"""What a loopback server sends back, in each API's own shapes: answers, events and errors.

Both servers of ``app/servers`` write with these: the offline demo (:mod:`.emulator`) and the
local endpoint (:mod:`.gateway`), whose errors a tool's client library must read as its
provider's. Handlers build plain values (:class:`JsonAnswer`, :class:`StreamAnswer`); only the
server's socket code deals with delays and chunked encoding.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.providers.payloads import compact_json

dumps = compact_json
"""JSON as providers send it: no spaces after separators."""


@dataclass(frozen=True)
class Failure:
    """An error answer, before each provider dresses it in its own error format.

    ``kind`` is one of ``rate_limit``, ``server``, ``overloaded``, ``auth``, ``not_found`` (no
    such model), ``unknown_url`` (no such path), ``invalid`` (a bad request) and ``permission``.
    """

    status: int
    kind: str
    message: str
    retry_after: str | None = None


@dataclass(frozen=True)
class Event:
    """One server-sent event: its ``data`` text and, for protocols that name them, its name."""

    data: str
    name: str | None = None


@dataclass(frozen=True)
class JsonAnswer:
    """A whole JSON answer (``Content-Length``, the connection stays open)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    fault: str | None = None


@dataclass(frozen=True)
class StreamAnswer:
    """A 200 event stream, sent in chunked encoding one event at a time."""

    events: Sequence[Event]
    headers: Mapping[str, str] = field(default_factory=dict)
    fault: str | None = None
    line_end: str = "\n"  # Gemini ends its lines with CRLF


Answer = JsonAnswer | StreamAnswer


def new_id(prefix: str) -> str:
    """A fresh id in a provider's style (``chatcmpl-...``, ``msg_...``)."""
    return prefix + uuid.uuid4().hex[:24]


def retry_after_ms(retry_after: str) -> str:
    """``retry-after-ms`` beside ``retry-after``, which the OpenAI and Anthropic SDKs read first.

    A zero becomes 10 ms: the SDKs ignore a zero wait and fall back to their own back-off (half
    a second and more), which would make every retry test slow.
    """
    return str(max(int(float(retry_after) * 1000), 10))


def format_event(event: Event, line_end: str = "\n") -> str:
    """An event as SSE text: ``event:`` when named, ``data:``, then a blank line."""
    lines = [f"event: {event.name}"] if event.name else []
    lines += [f"data: {line}" for line in event.data.split("\n")]
    return line_end.join(lines) + line_end * 2


_OPENAI_ERRORS = {
    "rate_limit": ("requests", "rate_limit_exceeded"),
    "server": ("server_error", None),
    "overloaded": ("server_error", "overloaded"),
    "auth": ("invalid_request_error", "invalid_api_key"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "unknown_url": ("invalid_request_error", "unknown_url"),  # OpenAI's own, for a bad path
    "invalid": ("invalid_request_error", None),
    "permission": ("invalid_request_error", None),
}


def openai_error(failure: Failure, fault: str | None = None) -> JsonAnswer:
    """``{"error": {"message", "type", "param", "code"}}`` with the failure's status."""
    kind, code = _OPENAI_ERRORS.get(failure.kind, ("invalid_request_error", None))
    headers = {"x-request-id": new_id("req_")}
    if failure.retry_after is not None:
        headers["retry-after"] = failure.retry_after
        headers["retry-after-ms"] = retry_after_ms(failure.retry_after)
    body = {"error": {"message": failure.message, "type": kind, "param": None, "code": code}}
    return JsonAnswer(failure.status, body, headers, fault)


_ANTHROPIC_ERRORS = {
    "rate_limit": "rate_limit_error",
    "server": "api_error",
    "overloaded": "overloaded_error",
    "auth": "authentication_error",
    "not_found": "not_found_error",
    "unknown_url": "not_found_error",
    "invalid": "invalid_request_error",
    "permission": "permission_error",
}


def anthropic_error(failure: Failure, fault: str | None = None) -> JsonAnswer:
    """``{"type": "error", "error": {"type", "message"}}`` with the failure's status."""
    request_id = new_id("req_")
    headers = {"request-id": request_id}
    if failure.retry_after is not None:
        headers["retry-after"] = failure.retry_after
        headers["retry-after-ms"] = retry_after_ms(failure.retry_after)
    kind = _ANTHROPIC_ERRORS.get(failure.kind, "invalid_request_error")
    body = {
        "type": "error",
        "error": {"type": kind, "message": failure.message},
        "request_id": request_id,
    }
    return JsonAnswer(failure.status, body, headers, fault)
