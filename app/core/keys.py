"""API keys: kept in the OS key store, read at send time, never shown or stored elsewhere.

Keys live in the OS keyring (Keychain, Credential Locker, Secret Service/KWallet) under the service
``Tallybook``, one entry per provider or endpoint id. Environment variables (``OPENAI_API_KEY``...)
are a read-only fallback. A key travels as an :class:`ApiKey`, whose ``repr`` and ``str`` never
show it. Every secret this process loads or saves is remembered (:func:`known_secrets`), so
:func:`redact` can scrub it, and anything shaped like a provider key, from any text before it
reaches the user, a log file or stderr (:mod:`app.core.redaction`; :mod:`app.core.logs` filters
every log record through it).
There is deliberately no plain-file fallback: without a key store, keys come from the environment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import TallybookError
from app.core.redaction import ENVIRONMENT_FALLBACK, remember

SERVICE = "Tallybook"


class KeyStoreUnavailable(TallybookError):
    """No OS key store is usable (a headless box, a locked or missing keyring)."""


@dataclass(frozen=True)
class ApiKey:
    """A secret that does not print itself."""

    secret: str = field(repr=False)
    source: str = "keyring"

    def __str__(self) -> str:
        return f"<{self.source} key {mask(self.secret)}>"

    def __repr__(self) -> str:
        return str(self)


def mask(secret: str) -> str:
    """What may be shown of a key: its last four characters."""
    return "…" + secret[-4:] if len(secret) > 8 else "…"


def get_key(provider_id: str) -> ApiKey | None:
    """The key for a provider: the key store first, then its environment variables."""
    try:
        secret = _keyring().get_password(SERVICE, provider_id)
    except KeyStoreUnavailable:
        secret = None
    if secret:
        remember(secret)
        return ApiKey(secret, "keyring")
    for variable in ENVIRONMENT_FALLBACK.get(provider_id, ()):
        if value := os.environ.get(variable):
            remember(value)
            return ApiKey(value, f"${variable}")
    return None


def set_key(provider_id: str, secret: str) -> None:
    """Save (or replace) a key in the OS key store.

    Raises:
        KeyStoreUnavailable: there is no usable key store; nothing was written anywhere.
    """
    secret = secret.strip()
    if not secret:
        raise TallybookError("An empty key cannot be saved.")
    remember(secret)  # before the store sees it: its errors may quote it
    _call(lambda store: store.set_password(SERVICE, provider_id, secret))


def delete_key(provider_id: str) -> None:
    """Remove a key from the OS key store (nothing happens if there was none)."""
    import keyring.errors

    def remove(store: Any) -> None:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            store.delete_password(SERVICE, provider_id)

    _call(remove)


def store_problem() -> str | None:
    """Why keys cannot be saved here, or ``None`` when the OS key store is usable.

    A store that exists but refuses a write (locked, denied) is only found out by saving.
    """
    try:
        _keyring()
    except KeyStoreUnavailable as error:
        return str(error)
    return None


def _keyring() -> Any:
    import keyring
    from keyring.backends import fail

    store = keyring.get_keyring()
    if isinstance(store, fail.Keyring):
        raise KeyStoreUnavailable(
            "No OS key store is available (on Linux: install and unlock GNOME Keyring or KWallet)."
            " Keys can come from environment variables such as OPENAI_API_KEY meanwhile; the"
            " offline demo needs none."
        )
    return store


def _call(action: Callable[[Any], None]) -> None:
    import keyring.errors

    store = _keyring()
    try:
        action(store)
    except keyring.errors.KeyringError as error:
        raise KeyStoreUnavailable(f"The OS key store refused: {type(error).__name__}.") from None
