from __future__ import annotations

import keyring
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyring.backends import fail

from app.core import keys, redaction
from app.core.keys import KeyStoreUnavailable
from tests.support.memory_keyring import MemoryKeyring

SENTINEL = "sk-test-SENTINEL-0123456789abcdefghij"


def test_keys_live_in_the_key_store(memory_keyring: MemoryKeyring) -> None:
    keys.set_key("openai", f"  {SENTINEL} ")
    assert memory_keyring.secrets == {("Tallybook", "openai"): SENTINEL}
    key = keys.get_key("openai")
    assert key is not None and key.secret == SENTINEL and key.source == "keyring"
    keys.delete_key("openai")
    keys.delete_key("openai")  # twice is fine
    assert keys.get_key("openai") is None


def test_a_key_never_prints_itself() -> None:
    key = keys.ApiKey(SENTINEL)
    for shown in (str(key), repr(key), f"{key}", repr([key]), repr({"k": key})):
        assert SENTINEL not in shown
    assert str(key).endswith("ghij>")


def test_environment_is_a_read_only_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-env-key-0000000000000000000")
    key = keys.get_key("gemini")
    assert key is not None and key.source == "$GEMINI_API_KEY"


def test_without_a_key_store_it_says_so_and_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(KeyStoreUnavailable, match="No OS key store"):
        keys.set_key("openai", SENTINEL)
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    key = keys.get_key("openai")
    assert key is not None and key.source == "$OPENAI_API_KEY"


def test_redact_scrubs_given_secrets_and_key_shapes() -> None:
    text = f"401: Incorrect API key provided: {SENTINEL}. Also AIzaSyA1234567890abcdefghijklmnop and custom-secret-1"
    clean = redaction.redact(text, ["custom-secret-1"])
    assert SENTINEL not in clean and "AIzaSy" not in clean and "custom-secret-1" not in clean
    assert clean.count(redaction.MASK) == 3


# --- A key split across a reply's deltas ---------------------------------------------------------

STREAMED_KEY = "sk-test-STREAMED-0123456789abcdefghijkl"


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(alphabet="ask- oj\n", max_size=12),
    after=st.text(alphabet="ask- oj\n", max_size=12),
    twice=st.booleans(),
    data=st.data(),
)
def test_a_key_split_across_deltas_is_masked_whatever_the_cut(
    before: str, after: str, twice: bool, data: st.DataObject
) -> None:
    text = before + STREAMED_KEY + after + (STREAMED_KEY if twice else "")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    redactor = redaction.StreamRedactor([STREAMED_KEY])
    out = "".join(redactor.feed(piece) for piece in pieces) + redactor.flush()
    # At most the key's first few characters (its public prefix) go out before it is known.
    assert STREAMED_KEY[redaction.StreamRedactor.HELD - 1 :] not in out
    assert "STREAMED" not in out
    assert out.count(redaction.MASK) >= 1 + twice
    # Everything around the key passes unchanged, in order.
    assert out.replace(redaction.MASK, "").startswith(before[: max(0, len(before) - 7)])
    assert out.endswith(after) or twice or out.endswith(redaction.MASK)
