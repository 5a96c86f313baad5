"""API keys: kept in the OS key store, read at send time, never shown or stored elsewhere.

Keys live in the OS keyring (Keychain, Credential Locker, Secret Service/KWallet) under the service
``Tallybook``, one entry per provider or endpoint id. Environment variables (``OPENAI_API_KEY``...)
are a read-only fallback. A key travels as an :class:`ApiKey`, whose ``repr`` and ``str`` never
show it. Every secret this process loads or saves is remembered (:func:`known_secrets`), so
:func:`redact` can scrub it, and anything shaped like a provider key, from any text before it
reaches the user, a log file or stderr (:mod:`app.core.logs` filters every log record through it).
There is deliberately no plain-file fallback: without a key store, keys come from the environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import TallybookError

SERVICE = "Tallybook"
ENVIRONMENT_FALLBACK = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "local-endpoint": ("TALLYBOOK_LOCAL_TOKEN",),  # the local endpoint's access token
}
# Shapes of provider keys, to scrub even keys this process never loaded (an echoed 401 body).
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{20,}|gsk_[A-Za-z0-9]{20,})")
MASK = "[redacted]"

_known: set[str] = set()
_known_lock = threading.Lock()


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


def remember(secret: str) -> None:
    """Add a secret to those :func:`redact` always masks (for the rest of the process)."""
    secret = secret.strip()
    if secret:
        with _known_lock:
            _known.add(secret)


def known_secrets() -> frozenset[str]:
    """Every secret this process has loaded or saved, plus the fallback variables' values.

    A key removed from the store stays known: copies of it may still be in memory or in text.
    """
    from_environment = {
        value.strip()
        for variables in ENVIRONMENT_FALLBACK.values()
        for variable in variables
        if (value := os.environ.get(variable, "")).strip()
    }
    with _known_lock:
        return frozenset(_known | from_environment)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets, every known one, and anything key-shaped masked."""
    # Longest first, so a secret that contains another is masked whole.
    every = sorted((s for s in {*secrets, *known_secrets()} if s), key=len, reverse=True)
    return _KEY_SHAPES.sub(MASK, _mask_each(text, every))


def looks_like_key(text: str) -> bool:
    """Whether ``text`` holds anything shaped like a provider key."""
    return _KEY_SHAPES.search(text) is not None


def _mask_each(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class StreamRedactor:
    """Masks secrets in text that arrives in pieces (a reply's deltas), even split across them.

    Text that ends with the first :data:`HELD` or more characters of a secret is held back until
    the next piece shows whether the secret follows, and a secret is masked whole when it does;
    the first few characters of a secret (fewer than :data:`HELD`: the public part of a key's
    prefix such as ``sk-proj``) may go out before it is known to be one, and the rest is masked
    from where it continues. Everything else passes unchanged, in the same order.
    """

    HELD = 8

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        every = {*secrets, *known_secrets()}
        self._secrets = sorted((s for s in every if s), key=len, reverse=True)
        self._pending = ""
        self._sent = ""  # the last characters passed on, to see a secret continue in a piece

    def feed(self, piece: str) -> str:
        """The part of the text so far that can be passed on now, masked."""
        if not self._secrets:
            return _KEY_SHAPES.sub(MASK, piece)
        text = self._continued(self._pending + piece)
        text = _mask_each(text, self._secrets)
        hold = self._holdable(self._sent + text, len(text))
        text, self._pending = text[: len(text) - hold], text[len(text) - hold :]
        self._sent = (self._sent + text)[-self.HELD :]
        return _KEY_SHAPES.sub(MASK, text)  # after holding: a held key's start is no shape

    def flush(self) -> str:
        """What is still held at the end: the start of a secret, so it is masked."""
        held, self._pending = self._pending, ""
        return MASK if held else ""

    def _continued(self, text: str) -> str:
        """``text`` with the rest of a secret masked where its first characters were sent."""
        joined, start = self._sent + text, len(self._sent)
        for secret in self._secrets:
            at = joined.find(secret, max(0, start - len(secret) + 1))
            if -1 < at < start:
                return MASK + text[at + len(secret) - start :]
        return text

    def _holdable(self, joined: str, room: int) -> int:
        """How many trailing characters (at most ``room``) may be the start of a secret."""
        longest = 0
        for secret in self._secrets:
            if len(secret) <= self.HELD:
                continue
            window = joined[-(len(secret) - 1) :]
            at = window.find(secret[: self.HELD])
            while at != -1:
                if secret.startswith(window[at:]):
                    longest = max(longest, min(len(window) - at, room))
                    break
                at = window.find(secret[: self.HELD], at + 1)
        return longest


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
