"""Faults the emulator can be asked to stage, so clients can be tested against bad days.

A fault is asked for by the ``X-Emulator-Fault`` header or by a model name ending in
``@<fault>`` (``gpt-4o-mini@cut``), which works from any client that lets the user type a model
name. A suffix that is not a known fault stays part of the name (Vertex spells versions
``claude-sonnet-4-5@20250929``); an unknown fault in the header is a 400, so a typo is not
silently a normal answer.
"""

from __future__ import annotations

import threading

from app.servers.wire import Failure

FAULTS: tuple[str, ...] = (
    "rate-limit",
    "rate-limit-once",
    "server-error",
    "overloaded",
    "auth",
    "not-found",
    "cut",
    "malformed",
    "no-usage",
    "slow",
    "slow-start",
)

FAULT_HEADER = "X-Emulator-Fault"
SLOW_DELAY = 0.2  # seconds between events under the ``slow`` fault
SLOW_START_DELAY = 3.0  # seconds before the headers under ``slow-start``


class UnknownFault(ValueError):
    """The fault header names no fault the emulator knows."""


def split_model(model: str, header: str | None) -> tuple[str, str | None]:
    """The model name without a fault suffix, and the fault asked for (the header wins).

    Raises:
        UnknownFault: the header names an unknown fault.
    """
    fault: str | None = None
    name, sep, suffix = model.rpartition("@")
    if sep and name and suffix in FAULTS:
        model, fault = name, suffix
    if header is not None and header.strip():
        wanted = header.strip().lower()
        if wanted not in FAULTS:
            raise UnknownFault(
                f"unknown {FAULT_HEADER} {header.strip()!r}; use one of {', '.join(FAULTS)}"
            )
        fault = wanted
    return model, fault


class FaultState:
    """What the faults of one emulator remember: which ``rate-limit-once`` calls were refused."""

    def __init__(self) -> None:
        self._refused: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def failure(self, fault: str | None, model: str, key: str, *, provider: str) -> Failure | None:
        """The error a fault stands for, or ``None`` when the request should be answered.

        ``provider`` is ``openai``, ``anthropic`` or ``gemini`` (overload statuses differ).
        """
        if fault == "rate-limit":
            return Failure(429, "rate_limit", _rate_limit_message(model), "1")
        if fault == "rate-limit-once":
            with self._lock:
                first = (model, fault) not in self._refused
                self._refused.add((model, fault))
            return Failure(429, "rate_limit", _rate_limit_message(model), "0") if first else None
        if fault == "server-error":
            return Failure(500, "server", "The server had an error while processing your request.")
        if fault == "overloaded":
            status = 529 if provider == "anthropic" else 503
            return Failure(status, "overloaded", "The model is overloaded. Please try again later.")
        if fault == "auth":
            return Failure(401, "auth", f"Incorrect API key provided: {key}.")
        if fault == "not-found":
            return Failure(
                404, "not_found", f"The model `{model}` does not exist or you do not have access."
            )
        return None


def _rate_limit_message(model: str) -> str:
    return f"Rate limit reached for {model} (offline demo). Please try again in 1s."
