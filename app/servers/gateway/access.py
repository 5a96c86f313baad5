"""The local endpoint's access token: what a tool passes as its API key to spend through it.

Anyone holding it spends the user's provider keys, so it is a secret like them: generated here
(256 bits), kept in the OS key store beside the provider keys (entry ``local-endpoint``), or set
through ``TALLYBOOK_LOCAL_TOKEN``, and masked in every log line like a key. Without a key store
(and without that variable) a token is made for this run only: the next start makes another, and
:func:`token_keeping` says so, for the dialog and ``tallybook serve`` to warn. Tools may also
hold a token of their own (:mod:`app.servers.gateway.tokens`).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Mapping
from enum import StrEnum

from app.core import keys, redaction
from app.core.errors import TallybookError
from app.core.redaction import ENVIRONMENT_FALLBACK

ENTRY = "local-endpoint"
PREFIX = "tb-local-"
VARIABLE = ENVIRONMENT_FALLBACK[ENTRY][0]
"""``TALLYBOOK_LOCAL_TOKEN``: a token of the user's choosing, for machines without a key store."""


class TokenKeeping(StrEnum):
    """Where the access token is kept, so whether it outlives this run."""

    KEY_STORE = "key store"
    ENVIRONMENT = "environment"
    THIS_RUN = "this run"


_lock = threading.Lock()
_for_this_run: str | None = None


def access_token() -> str:
    """The token tools must present; made and stored on first use."""
    with _lock:
        stored = keys.get_key(ENTRY)
        if stored is not None:
            return stored.secret
        return _for_this_run or _store(_new_token())


def token_keeping() -> TokenKeeping:
    """Where :func:`access_token` comes from (call it after that has made one)."""
    stored = keys.get_key(ENTRY)
    if stored is None:
        return TokenKeeping.THIS_RUN
    return TokenKeeping.KEY_STORE if stored.source == "keyring" else TokenKeeping.ENVIRONMENT


def renew_access_token() -> str:
    """Replace the token (the old one stops working at once); returns the new one.

    Raises:
        TallybookError: the token is ``TALLYBOOK_LOCAL_TOKEN``'s and there is no key store to
            keep a new one in (which the variable would win over at the next start anyway).
    """
    with _lock:
        if keys.store_problem() is not None and keys.get_key(ENTRY) is not None:
            raise TallybookError(f"The access token is set by {VARIABLE}; change it there.")
        return _store(_new_token())


def presented_token(headers: Mapping[str, str]) -> str:
    """The token a request carries: ``Authorization: Bearer`` (OpenAI's clients) or
    ``x-api-key`` (Anthropic's); header names in lower case."""
    scheme, _, bearer = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        return bearer.strip()
    return (headers.get("x-api-key") or "").strip()


def is_authorized(headers: Mapping[str, str], token: str) -> bool:
    """Whether the request carries ``token`` (compared in constant time)."""
    return hmac.compare_digest(presented_token(headers).encode(), token.encode())


def _new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _store(token: str) -> str:
    """Save ``token`` in the key store, or keep it for this run when there is none (never in a
    file); it is masked in logs either way."""
    global _for_this_run
    redaction.remember(token)
    try:
        keys.set_key(ENTRY, token)
    except keys.KeyStoreUnavailable:
        _for_this_run = token
    else:
        _for_this_run = None
    return token
