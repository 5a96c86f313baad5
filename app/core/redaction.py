"""What is secret, and how it is masked in any text before anyone sees it.

Every secret this process loads or saves is remembered (:func:`remember`), and the environment
variables keys may come from are read too (:func:`known_secrets`), so :func:`redact` can scrub
them, and anything shaped like a provider key, from any text: a provider's error body, a log
record, a crash report. :class:`StreamRedactor` does the same for text that arrives in pieces.
This module imports nothing of the app: the errors and the key store both build on it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable

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
