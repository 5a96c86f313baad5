"""Tool tokens: one named, revocable access token per tool, so its spend carries its name.

The user names a token after the tool that will hold it (``zed``, ``nightly-report.py``); a
request that presents it is filed under that name, whatever its headers say (see
:mod:`app.servers.gateway.sources`). The secret lives only in the OS key store (entry
``local-endpoint/<id>``), is shown once when it is made, and is masked in every log line; the
ledger file keeps only each token's id, name and dates (setting ``local_endpoint_tokens``), so a
revoked token is still recognised and refused in words ("revoked on ..."). A token reads
``tb-tool-<id>-<secret>``: the id finds its entry without trying every secret.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core import clock, conversations, keys
from app.core.errors import InvalidSetting, TallybookError
from app.core.storage import settings
from app.servers.gateway.access import VARIABLE

SETTING = "local_endpoint_tokens"
PREFIX = "tb-tool-"
_ID_LENGTH = 8
MAX_NAME_LENGTH = conversations.MAX_SOURCE_LENGTH


class TokenRefused(TallybookError):
    """A tool token that does not open the endpoint (revoked, unknown, or not the one issued)."""


@dataclass(frozen=True)
class ToolToken:
    """One tool's token, as the ledger file keeps it (never the secret).

    Attributes:
        id: short and random; names the key store entry and appears in the token itself.
        name: the tool's name, which its requests are filed under.
        created: when it was made (naive UTC).
        revoked: when it was revoked, or ``None`` while it works.
    """

    id: str
    name: str
    created: datetime
    revoked: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether requests presenting it are served."""
        return self.revoked is None


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: the one moment its secret is handed out (to show and copy once)."""

    token: ToolToken
    secret: str = field(repr=False)


def entry(token_id: str) -> str:
    """The key store entry that holds a token's secret."""
    return f"local-endpoint/{token_id}"


def list_tokens(session: Session) -> list[ToolToken]:
    """Every token ever made, oldest first; revoked ones too (they are refused by name)."""
    stored: Any = settings.get(session, SETTING, [])
    items = stored if isinstance(stored, list) else []
    return [token for item in items if (token := _from_json(item)) is not None]


def issue(session: Session, name: str, *, now: datetime | None = None) -> IssuedToken:
    """Make a token for the tool ``name``; its secret goes to the key store, never elsewhere.

    Raises:
        InvalidSetting: the name is empty, too long, taken by a working token, or the chat
            window's.
        KeyStoreUnavailable: there is no OS key store to keep the secret in; nothing was made.
    """
    name = _checked_name(name, list_tokens(session))
    token_id = secrets.token_hex(_ID_LENGTH // 2)
    secret = f"{PREFIX}{token_id}-{secrets.token_urlsafe(32)}"
    try:
        keys.set_key(entry(token_id), secret)  # first: without a key store nothing is recorded
    except keys.KeyStoreUnavailable:
        raise keys.KeyStoreUnavailable(
            "A tool token is kept only in the OS key store, which is not usable here (on Linux: "
            "install and unlock GNOME Keyring or KWallet); tools can share the access token "
            f"meanwhile ({VARIABLE} keeps it the same across restarts)."
        ) from None
    made = ToolToken(token_id, name, now or clock.utcnow())
    _save(session, [*list_tokens(session), made])
    return IssuedToken(made, secret)


def revoke(session: Session, name: str, *, now: datetime | None = None) -> ToolToken:
    """Stop the working token named ``name`` at once (its next request gets 401).

    Raises:
        InvalidSetting: no working token has that name.
    """
    every = list_tokens(session)
    wanted = name.strip().casefold()
    found = next((t for t in every if t.active and t.name.casefold() == wanted), None)
    if found is None:
        raise InvalidSetting(f"There is no working tool token named {name.strip()!r}.")
    revoked = replace(found, revoked=now or clock.utcnow())
    _save(session, [revoked if t.id == found.id else t for t in every])
    # The setting already refuses it; a key store that is gone now cannot hold it either.
    with contextlib.suppress(keys.KeyStoreUnavailable):
        keys.delete_key(entry(found.id))
    return revoked


def is_tool_token(presented: str) -> bool:
    """Whether a presented key is shaped like a tool token (rather than the shared one)."""
    return presented.startswith(PREFIX)


class TokenCheck:
    """Finds the tool a presented token belongs to, for one endpoint.

    The list is read from the ledger file on every request, so a token made or revoked anywhere
    (the dialog, ``tallybook endpoint-tokens`` in another terminal) counts at once; only the
    secrets, which never change for an id, are kept in memory after their first read.
    """

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._lock = threading.Lock()

    def tool_of(self, session: Session, presented: str) -> ToolToken:
        """The working token ``presented`` is.

        Raises:
            TokenRefused: it is revoked, unknown, or does not match the one issued.
        """
        token_id = presented.removeprefix(PREFIX)[:_ID_LENGTH]
        found = next((t for t in list_tokens(session) if t.id == token_id), None)
        if found is None:
            raise TokenRefused(
                "Tallybook's local endpoint does not know this tool token; create one under "
                "Tools > Local endpoint (or `tallybook endpoint-tokens add NAME`)."
            )
        if found.revoked is not None:
            raise TokenRefused(
                f"Tallybook: the token for {found.name!r} was revoked on "
                f"{found.revoked:%Y-%m-%d %H:%M} UTC; create a new one under Tools > Local "
                f"endpoint (or `tallybook endpoint-tokens add {found.name}`)."
            )
        secret = self._secret(found)
        if secret is None or not hmac.compare_digest(presented.encode(), secret.encode()):
            raise TokenRefused(
                f"Tallybook: this is not the token issued for {found.name!r}"
                + ("" if secret else " (its secret is missing from the OS key store)")
                + "; revoke it and create a new one under Tools > Local endpoint."
            )
        return found

    def _secret(self, token: ToolToken) -> str | None:
        with self._lock:
            if token.id not in self._secrets:
                stored = keys.get_key(entry(token.id))
                if stored is None:
                    return None
                self._secrets[token.id] = stored.secret
            return self._secrets[token.id]


def _save(session: Session, tokens: list[ToolToken]) -> None:
    settings.put(session, SETTING, [to_json(token) for token in tokens])


def _checked_name(name: str, existing: list[ToolToken]) -> str:
    wanted = " ".join(name.split())
    if not wanted:
        raise InvalidSetting("Name the tool the token is for (e.g. zed or nightly-report.py).")
    if len(wanted) > MAX_NAME_LENGTH:
        raise InvalidSetting(f"A tool's name has at most {MAX_NAME_LENGTH} characters.")
    if conversations.clean_source(wanted) != wanted:
        raise InvalidSetting("A tool's name is one line of printable characters.")
    chat = conversations.CHAT_SOURCE
    if wanted.casefold() in (chat, conversations.source_label(chat).casefold()):
        raise InvalidSetting("That name is the chat window's; name the tool itself.")
    if any(t.active and t.name.casefold() == wanted.casefold() for t in existing):
        raise InvalidSetting(f"{wanted!r} already has a working token; revoke it to replace it.")
    return wanted


def to_json(token: ToolToken) -> dict[str, str | None]:
    """A token as the setting (and ``--json``) holds it: id, name, ISO 8601 dates in UTC."""
    return {
        "id": token.id,
        "name": token.name,
        "created": token.created.isoformat(),
        "revoked": None if token.revoked is None else token.revoked.isoformat(),
    }


def _from_json(item: Any) -> ToolToken | None:
    """A stored entry, or ``None`` for one damaged beyond use (a hand edit)."""
    if not isinstance(item, dict):
        return None
    token_id, name, created, revoked = (item.get(k) for k in ("id", "name", "created", "revoked"))
    if not (isinstance(token_id, str) and isinstance(name, str) and isinstance(created, str)):
        return None
    try:
        made = datetime.fromisoformat(created)
        ended = datetime.fromisoformat(revoked) if isinstance(revoked, str) else None
    except ValueError:
        return None
    return ToolToken(token_id, name, made, ended)
