"""What the protocol modules and the HTTP plumbing hand each other.

A protocol handler is a plain function from a :class:`Call` to an answer (:class:`JsonAnswer` or
:class:`StreamAnswer`), so the wire shapes can be built and read without a socket; the server
alone deals with delays, chunked encoding and the faults that act on the connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.messages import InvalidPayload
from app.servers.emulator.faults import FAULT_HEADER, FaultState, UnknownFault, split_model
from app.servers.emulator.replies import Replies
from app.servers.emulator.served import ServedTally
from app.servers.wire import Failure

BadRequest = InvalidPayload
"""The request cannot be answered as sent (a 400 in the provider's error format); the same
error :mod:`app.core.providers.payloads` raises for a prompt it cannot read."""


@dataclass(frozen=True)
class Call:
    """One HTTP request as the handlers see it (header names lowercased)."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, or ``None``."""
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or ``None``."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def fault_header(self) -> str | None:
        """The fault asked for in the ``X-Emulator-Fault`` header."""
        return self.header(FAULT_HEADER)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object.

        Raises:
            BadRequest: empty body, invalid JSON, or not an object.
        """
        try:
            data = json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BadRequest(f"The request body is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
        return data


@dataclass(frozen=True)
class EmulatorState:
    """What every handler of one emulator shares."""

    replies: Replies
    faults: FaultState
    served: ServedTally = field(default_factory=ServedTally)
    """What was served, for the billing APIs (see :mod:`.served`)."""


def limit_field(body: Mapping[str, Any], *names: str) -> int | None:
    """The first output limit present under ``names``.

    Raises:
        BadRequest: the limit is not a positive whole number.
    """
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(f"{name} must be a positive integer, not {value!r}.")
        return value
    return None


class Refused(Exception):
    """The request is answered with an error (a fault, a missing key...)."""

    def __init__(self, failure: Failure, fault: str | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.fault = fault


def resolve_model(
    state: EmulatorState, call: Call, model: Any, key: str, *, provider: str, counting: bool = False
) -> tuple[str, str | None]:
    """The model name and the fault asked for; raises :class:`Refused` for an error fault.

    ``counting`` endpoints (token counts) stage the error faults but ``rate-limit-once``, whose
    one refusal is kept for the generation request a client sends after counting, and of the
    others only ``slow-start``: a count is never cut or malformed.

    Raises:
        BadRequest: no model name, or an unknown fault in the header.
        Refused: the fault is one that answers with an error.
    """
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("A model name is required.")
    try:
        name, fault = split_model(model.strip(), call.fault_header)
    except UnknownFault as error:
        raise BadRequest(str(error)) from None
    if counting and fault == "rate-limit-once":
        return name, None
    failure = state.faults.failure(fault, name, key, provider=provider)
    if failure is not None:
        raise Refused(failure, fault)
    if counting and fault != "slow-start":
        return name, None
    return name, fault
