from __future__ import annotations

import pytest

from app.core import keys
from app.core.reconcile.admin_keys import admin_key
from app.core.reconcile.records import ReconcileError
from app.core.redaction import redact
from tests.support.memory_keyring import MemoryKeyring

ADMIN = "sk-admin-bars-STORED-0123456789abcdefghij"


def test_the_key_store_entry_comes_before_the_variable(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-bars-FROM-ENV-0123456789abcdef")
    keys.set_key("openai", "sk-test-chat-key-0123456789abcdefgh")  # the chat key is not it
    assert admin_key("openai").source == "$OPENAI_ADMIN_KEY"
    keys.set_key("openai-admin", ADMIN)
    key = admin_key("openai")
    assert key.secret == ADMIN and key.source == "keyring"


def test_a_key_from_the_environment_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "custom-anthropic-admin-secret"  # not key-shaped: only remembering masks it
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", secret)
    assert admin_key("anthropic").secret == secret
    assert secret not in redact(f"echoed {secret}")


@pytest.mark.parametrize(
    ("provider", "entry", "variable"),
    [
        ("openai", "openai-admin", "OPENAI_ADMIN_KEY"),
        ("anthropic", "anthropic-admin", "ANTHROPIC_ADMIN_KEY"),
        ("openrouter", "openrouter-management", "OPENROUTER_MANAGEMENT_KEY"),
    ],
)
def test_a_missing_key_names_both_places(
    provider: str, entry: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ReconcileError) as raised:
        admin_key(provider)
    message = str(raised.value)
    assert entry in message and variable in message and message.endswith(".")
