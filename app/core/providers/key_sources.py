"""Where each endpoint's key comes from, in the words the keys dialog and ``tallybook keys list``
both show, without the key itself (only its last four characters).

Also the one place that finds the key a test should use, so the dialog and the command line
test the same key for the same endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.core import keys
from app.core.providers.registry import DEMO, Endpoint


@dataclass(frozen=True)
class KeyStatus:
    """Where an endpoint's key comes from."""

    endpoint: Endpoint
    source: str | None
    """``keyring``, the environment variable (``$OPENAI_API_KEY``), or ``None``: no key."""
    tail: str = ""
    """What may be shown of the key (``…1a2b``)."""

    @property
    def needs_key(self) -> bool:
        """Whether requests to this endpoint carry a key at all (the demo and local servers
        need none, so there is nothing to enter, test or remove)."""
        return self.endpoint.needs_key and self.endpoint.api != DEMO

    @property
    def saved(self) -> bool:
        """The key is in the OS key store (so it can be replaced or removed)."""
        return self.source == "keyring"

    @property
    def text(self) -> str:
        """The status in the user's words."""
        if not self.needs_key:
            return "Needs no key"
        if self.saved:
            return f"Saved in the key store {self.tail}"
        if self.source is not None:
            return f"From {self.source} {self.tail}"
        return "No key"


def key_statuses(endpoints: Iterable[Endpoint]) -> list[KeyStatus]:
    """Each endpoint's key source, in order (reads the key store: may block on an unlock)."""
    statuses = []
    for endpoint in endpoints:
        key = keys.get_key(endpoint.id) if endpoint.needs_key else None
        if key is None:
            statuses.append(KeyStatus(endpoint, None))
        else:
            statuses.append(KeyStatus(endpoint, key.source, keys.mask(key.secret)))
    return statuses


def secret_to_test(endpoint: Endpoint, typed: str = "") -> str | None:
    """The key a test of ``endpoint`` sends: the one just typed, else the stored one (key store
    or environment), else ``None`` (fine for an endpoint that needs none)."""
    if typed.strip():
        return typed.strip()
    if not endpoint.needs_key or endpoint.api == DEMO:
        return None
    key = keys.get_key(endpoint.id)
    return key.secret if key is not None else None
