"""Tool tokens on a real local endpoint: one named, revocable token per tool, its spend under
its name; and where the shared access token is kept, and what an unknown path or model gets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import keyring
import openai
import pytest
from keyring.backends import fail
from sqlalchemy import select

from app.core import keys, redaction
from app.core.errors import InvalidSetting, TallybookError
from app.core.metering.client import MeteringClient
from app.core.storage import settings
from app.core.storage.db import Database
from app.core.storage.models import Conversation, Request, Transaction
from app.servers.gateway import (
    Gateway,
    Settlement,
    TokenKeeping,
    Upstreams,
    access,
    access_token,
    renew_access_token,
    token_keeping,
    tokens,
)

HELLO = [{"role": "user", "content": "Hello from a tool with its own token"}]
BODY = {"model": "gpt-4o-mini", "messages": HELLO}


@pytest.fixture
def settled() -> list[Settlement]:
    return []


@pytest.fixture
def gateway(db: Database, settled: list[Settlement]) -> Iterator[Gateway]:
    client = MeteringClient(db, retries=0)
    with Gateway(
        db,
        client,
        token=access_token(),
        upstreams=Upstreams.demo(),
        port=0,
        on_settled=settled.append,
    ) as server:
        yield server
    client.close()


def _issue(db: Database, name: str) -> str:
    with db.write() as session:
        return tokens.issue(session, name).secret


def _revoke(db: Database, name: str) -> None:
    with db.write() as session:
        tokens.revoke(session, name)


def _chat(gateway: Gateway, token: str, **headers: str) -> httpx2.Response:
    sent = {"Authorization": f"Bearer {token}", **headers}
    return httpx2.post(gateway.url + "/v1/chat/completions", json=BODY, headers=sent)


def _charged_sources(db: Database) -> list[str]:
    """The source of each conversation with spend on it."""
    with db.read() as session:
        charged = select(Transaction.conversation_id).where(Transaction.token_type != "credits")
        query = select(Conversation.source).where(Conversation.id.in_(charged))
        return sorted(session.scalars(query))


def test_a_tools_own_token_files_its_spend_under_its_name(
    db: Database, gateway: Gateway, settled: list[Settlement]
) -> None:
    """Made while the endpoint runs, it works at once; its name beats User-Agent and header."""
    zed = _issue(db, "zed")
    report = _issue(db, "nightly-report.py")
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=zed, max_retries=0) as sdk:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    posing = _chat(gateway, report, **{"X-Tallybook-Source": "zed", "User-Agent": "curl/8.5.0"})
    assert posing.status_code == 200
    shared = _chat(gateway, gateway.token, **{"X-Tallybook-Source": "my-script"})
    assert shared.status_code == 200  # the shared token works beside them, as before
    assert [done.source for done in settled] == ["zed", "nightly-report.py", "my-script"]
    assert _charged_sources(db) == ["my-script", "nightly-report.py", "zed"]


def test_a_revoked_token_is_refused_in_words_and_nothing_is_charged(
    db: Database, gateway: Gateway
) -> None:
    zed = _issue(db, "zed")
    assert _chat(gateway, zed).status_code == 200
    _revoke(db, "zed")
    with (
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=zed, max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError, match="token for 'zed' was revoked on"),
    ):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    with (
        anthropic.Anthropic(base_url=gateway.url, api_key=zed, max_retries=0) as claude,
        pytest.raises(anthropic.AuthenticationError, match="revoked"),
    ):
        claude.messages.create(model="claude-haiku-4-5", max_tokens=9, messages=HELLO)  # type: ignore[arg-type]
    with db.read() as session:
        [revoked] = tokens.list_tokens(session)
        assert keys.get_key(tokens.entry(revoked.id)) is None and not revoked.active
        assert len(session.scalars(select(Request)).all()) == 1  # the one before revoking
    again = _issue(db, "zed")  # the name is free again, with a new secret
    assert again != zed and _chat(gateway, again).status_code == 200


def test_a_forged_or_unknown_tool_token_is_refused(db: Database, gateway: Gateway) -> None:
    real = _issue(db, "zed")
    forged = real[: len(tokens.PREFIX) + 8] + "-not-the-secret"
    wrong = _chat(gateway, forged)
    assert wrong.status_code == 401 and "not the token issued for 'zed'" in wrong.text
    unknown = _chat(gateway, tokens.PREFIX + "00000000-anything")
    assert unknown.status_code == 401 and "does not know this tool token" in unknown.text
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    with db.read() as session:
        assert session.scalars(select(Request)).all() == []


def test_the_secret_is_only_in_the_key_store(db: Database, tmp_path: Path) -> None:
    """The ledger file keeps the id, the name and the dates; logs mask the secret."""
    with db.write() as session:
        issued = tokens.issue(session, "zed")
    stored = keys.get_key(tokens.entry(issued.token.id))
    assert stored is not None and stored.secret == issued.secret
    assert issued.secret.startswith(f"tb-tool-{issued.token.id}-") and len(issued.secret) > 50
    assert issued.secret not in repr(issued)
    with db.read() as session:
        kept: list[dict[str, object]] = settings.get(session, tokens.SETTING, [])
    assert kept == [
        {"id": issued.token.id, "name": "zed", "created": kept[0]["created"], "revoked": None}
    ]
    db.close()
    for file in tmp_path.glob("ledger.sqlite3*"):
        assert issued.secret.encode() not in file.read_bytes()
    assert redaction.redact(f"key {issued.secret}") == f"key {redaction.MASK}"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("  ", "Name the tool"),
        ("Chat window", "chat window's"),
        ("chat", "chat window's"),
        ("bad\x1bname", "printable"),
        ("x" * 65, "at most 64"),
        ("ZED", "already has a working token"),
    ],
)
def test_names_are_checked(db: Database, name: str, why: str) -> None:
    _issue(db, "zed")
    with db.write() as session, pytest.raises(InvalidSetting, match=why):
        tokens.issue(session, name)


def test_revoking_a_name_without_a_working_token_says_so(db: Database) -> None:
    with db.write() as session, pytest.raises(InvalidSetting, match="no working tool token"):
        tokens.revoke(session, "zed")


@pytest.fixture
def no_key_store() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.mark.usefixtures("no_key_store")
def test_without_a_key_store_no_tool_token_is_made(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.write() as session, pytest.raises(keys.KeyStoreUnavailable):
        tokens.issue(session, "zed")
    with db.read() as session:
        assert tokens.list_tokens(session) == []


@pytest.mark.usefixtures("no_key_store")
def test_without_a_key_store_the_access_token_lasts_one_run_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(access.VARIABLE, raising=False)
    monkeypatch.setattr(access, "_for_this_run", None)
    access_token()
    assert token_keeping() is TokenKeeping.THIS_RUN
    monkeypatch.setenv(access.VARIABLE, "tb-local-chosen-by-the-user-0123456789")
    assert access_token() == "tb-local-chosen-by-the-user-0123456789"
    assert token_keeping() is TokenKeeping.ENVIRONMENT
    with pytest.raises(TallybookError, match=f"set by {access.VARIABLE}"):
        renew_access_token()
    assert access_token() == "tb-local-chosen-by-the-user-0123456789"


def test_with_a_key_store_the_access_token_is_kept() -> None:
    token = access_token()
    assert token_keeping() is TokenKeeping.KEY_STORE
    assert renew_access_token() != token


def test_an_unknown_path_and_an_unknown_model_have_their_own_codes(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.token}"}
    path = httpx2.post(gateway.url + "/v1/embeddings", json={}, headers=headers)
    assert path.status_code == 404
    assert path.json()["error"]["code"] == "unknown_url"
    assert "/v1/chat/completions" in path.json()["error"]["message"]
    claude_path = httpx2.get(
        gateway.url + "/v1/nothing", headers={**headers, "anthropic-version": "2023-06-01"}
    )
    assert claude_path.status_code == 404
    assert claude_path.json()["error"]["type"] == "not_found_error"
    missing = {"model": "gpt-4o-mini@not-found", "messages": HELLO}
    model = httpx2.post(gateway.url + "/v1/chat/completions", json=missing, headers=headers)
    assert model.status_code == 404 and model.json()["error"]["code"] == "model_not_found"
