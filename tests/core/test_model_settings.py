"""A conversation's model settings: what each provider takes, kept with the conversation, sent
on the wire, and what they do to the quote's worst case and the request's hold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import conversations
from app.core.chats import Chats, NewConversation, Opened
from app.core.errors import InvalidSetting
from app.core.metering.client import Metered, MeteringClient
from app.core.model_settings import ModelSettings, Offered, applicable, offered, validate
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Request
from app.core.types import ConversationId, WireApi
from app.servers.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A demo of this test's own, so the bodies it received are this test's."""
    with Emulator() as running:
        previous = registry.use_demo(lambda: running.url)
        try:
            yield running
        finally:
            registry.use_demo(previous)


@pytest.fixture
def chats(db: Database) -> Iterator[Chats]:
    service = Chats(db, MeteringClient(db))
    yield service
    service.metering.close()


def _last_body(emulator: Emulator) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(emulator.received_bodies[-1])
    return body


def _send(chats: Chats, conversation: ConversationId | None, model: str, **new: Any) -> Metered:
    *_, metered = chats.send(
        conversation,
        "Hello",
        "demo",
        model,
        new=NewConversation(model_settings=ModelSettings(**new)),
    )
    assert isinstance(metered, Metered) and metered.error is None
    return metered


def test_settings_are_stored_as_json_and_defaults_as_nothing() -> None:
    chosen = ModelSettings(temperature=0.2, max_output_tokens=2048)
    assert ModelSettings().to_json() == "" and ModelSettings().is_default
    assert ModelSettings.from_json(chosen.to_json()) == chosen and not chosen.is_default
    assert json.loads(chosen.to_json()) == {"max_output_tokens": 2048, "temperature": 0.2}
    # A cell damaged by hand opens the conversation at the provider's defaults.
    assert ModelSettings.from_json("{not json") == ModelSettings()
    assert ModelSettings.from_json('{"temperature": "hot", "max_output_tokens": 0}').is_default
    assert ModelSettings.from_json('{"reasoning_effort": "extreme"}').is_default


def test_each_provider_is_offered_only_what_it_takes() -> None:
    gpt = offered(WireApi.OPENAI_CHAT, "gpt-4o", 16384)
    assert (gpt.temperature_max, gpt.efforts, gpt.thinking) == (2.0, (), None)
    reasoning = offered(WireApi.OPENAI_CHAT, "o3-mini", 100000)
    assert reasoning.temperature_max is None and reasoning.efforts == ("low", "medium", "high")
    assert offered(WireApi.OPENAI_RESPONSES, "gpt-5", None).efforts[0] == "minimal"
    assert offered(WireApi.OPENAI_CHAT, "o3-mini", None, vendor=False).efforts == ()
    claude = offered(WireApi.ANTHROPIC, "claude-sonnet-4-20250514", 64000)
    assert claude.temperature_max == 1.0 and claude.thinking == (1024, None)
    assert offered(WireApi.ANTHROPIC, "claude-3-5-haiku-latest", 8192).thinking is None
    assert offered(WireApi.GEMINI, "gemini-2.5-pro", 65536).thinking == (128, 32768)
    assert offered(WireApi.GEMINI, "gemini-2.5-flash", 65536).thinking == (0, 24576)
    assert offered(WireApi.GEMINI, "gemini-2.0-flash", 8192).thinking is None


@pytest.mark.parametrize(
    ("api", "model", "settings", "words"),
    [
        (WireApi.OPENAI_CHAT, "gpt-4o", ModelSettings(temperature=2.5), "from 0 to 2"),
        (WireApi.ANTHROPIC, "claude-sonnet-4", ModelSettings(temperature=1.5), "from 0 to 1"),
        (WireApi.OPENAI_CHAT, "o3-mini", ModelSettings(temperature=0.5), "no temperature"),
        (WireApi.OPENAI_CHAT, "gpt-4o", ModelSettings(max_output_tokens=0), "at least 1"),
        (WireApi.OPENAI_CHAT, "gpt-4o", ModelSettings(max_output_tokens=20000), "16,384"),
        (WireApi.OPENAI_CHAT, "o3-mini", ModelSettings(reasoning_effort="minimal"), "low, "),
        (WireApi.OPENAI_CHAT, "gpt-4o", ModelSettings(reasoning_effort="low"), "no reasoning"),
        (WireApi.ANTHROPIC, "claude-sonnet-4", ModelSettings(thinking_budget=512), "1,024"),
        (
            WireApi.ANTHROPIC,
            "claude-sonnet-4",
            ModelSettings(max_output_tokens=2048, thinking_budget=2048),
            "below the max output (2,048",
        ),
        (
            WireApi.ANTHROPIC,
            "claude-sonnet-4",
            ModelSettings(temperature=0.5, thinking_budget=2048),
            "no temperature",
        ),
        (WireApi.GEMINI, "gemini-2.5-pro", ModelSettings(thinking_budget=0), "from 128"),
        (WireApi.GEMINI, "gemini-2.0-flash", ModelSettings(thinking_budget=1024), "no thinking"),
    ],
)
def test_what_a_model_would_refuse_is_refused_in_words(
    api: WireApi, model: str, settings: ModelSettings, words: str
) -> None:
    limits = {"gpt-4o": 16384, "o3-mini": 100000, "claude-sonnet-4": 64000}
    with pytest.raises(InvalidSetting, match=words.replace("(", r"\(")):
        validate(settings, offered(api, model, limits.get(model, 65536)))


def test_an_anthropic_thinking_budget_fits_the_limit_sent_when_none_is_known() -> None:
    unknown = offered(WireApi.ANTHROPIC, "claude-sonnet-4-future", None)
    validate(ModelSettings(thinking_budget=4000), unknown)  # below the 4,096 sent by default
    with pytest.raises(InvalidSetting, match="4,096"):
        validate(ModelSettings(thinking_budget=5000), unknown)
    validate(ModelSettings(max_output_tokens=16000, thinking_budget=8000), unknown)


def test_a_conversation_moved_to_another_model_keeps_what_that_model_takes() -> None:
    stored = ModelSettings(temperature=1.5, max_output_tokens=50000, reasoning_effort="high")
    assert applicable(stored, offered(WireApi.OPENAI_CHAT, "o3-mini", 100000)) == ModelSettings(
        max_output_tokens=50000, reasoning_effort="high"
    )
    assert applicable(stored, offered(WireApi.ANTHROPIC, "claude-3-5-haiku", 8192)).is_default
    thinking = ModelSettings(temperature=0.3, thinking_budget=2048)
    kept = applicable(thinking, offered(WireApi.ANTHROPIC, "claude-sonnet-4", 64000))
    assert kept == ModelSettings(thinking_budget=2048)  # thinking wins over temperature
    assert applicable(stored, Offered(temperature_max=2.0)) == ModelSettings(
        temperature=1.5, max_output_tokens=50000
    )


def test_settings_survive_reopening_the_ledger_file(tmp_path: Path) -> None:
    path = tmp_path / "kept.sqlite3"
    first = Database(path)
    try:
        chats = Chats(first, MeteringClient(first))
        metered = _send(chats, None, "gpt-4o-mini")
        assert metered.conversation_id is not None
        conversation = metered.conversation_id
        chosen = ModelSettings(temperature=0.2, max_output_tokens=2048)
        chats.configure(conversation, model_settings=chosen)
        chats.metering.close()
    finally:
        first.close()
    again = Database(path)
    try:
        with again.read() as session:
            assert conversations.get_conversation(session, conversation).model_settings == chosen
        Chats(again, MeteringClient(again)).configure(conversation, model_settings=ModelSettings())
        with again.read() as session:
            assert conversations.get_conversation(session, conversation).model_settings.is_default
    finally:
        again.close()


def test_a_new_conversation_starts_with_the_settings_it_was_given_or_the_defaults(
    db: Database, chats: Chats
) -> None:
    plain = _send(chats, None, "gpt-4o-mini")
    tuned = _send(chats, None, "gpt-4o-mini", temperature=0.7)
    with db.read() as session:
        assert plain.conversation_id and tuned.conversation_id
        assert conversations.get_conversation(session, plain.conversation_id).model_settings == (
            ModelSettings()
        )
        stored = conversations.get_conversation(session, tuned.conversation_id).model_settings
    assert stored == ModelSettings(temperature=0.7)


def test_chat_completions_carries_temperature_and_max_output(
    chats: Chats, emulator: Emulator
) -> None:
    metered = _send(chats, None, "gpt-4o-mini", temperature=0.2, max_output_tokens=300)
    body = _last_body(emulator)
    assert (body["temperature"], body["max_completion_tokens"]) == (0.2, 300)
    assert "reasoning_effort" not in body
    # The next message of the conversation carries the stored settings too.
    *_, again = chats.send(metered.conversation_id, "More", "demo", "gpt-4o-mini")
    assert isinstance(again, Metered)
    assert _last_body(emulator)["temperature"] == 0.2


def test_a_reasoning_model_gets_its_effort_and_never_a_temperature(
    db: Database, chats: Chats, emulator: Emulator
) -> None:
    metered = _send(chats, None, "gpt-4o-mini", temperature=0.4)
    assert metered.conversation_id is not None
    chats.configure(
        metered.conversation_id,
        model_settings=ModelSettings(temperature=0.4, reasoning_effort="low"),
    )
    *_, reply = chats.send(metered.conversation_id, "Think", "demo", "o3-mini")
    assert isinstance(reply, Metered) and reply.error is None
    body = _last_body(emulator)
    assert body["reasoning_effort"] == "low" and "temperature" not in body
    *_, pro = chats.send(metered.conversation_id, "Think hard", "demo", "o3-pro")
    assert isinstance(pro, Metered)
    body = _last_body(emulator)
    assert body["reasoning"] == {"effort": "low"} and "temperature" not in body


def test_anthropic_gets_extended_thinking_within_max_tokens(
    chats: Chats, emulator: Emulator
) -> None:
    metered = _send(
        chats, None, "claude-sonnet-4-20250514", max_output_tokens=4096, thinking_budget=2048
    )
    body = _last_body(emulator)
    assert body["max_tokens"] == 4096
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in body
    assert metered.usage.reasoning_tokens > 0  # the demo thought, and it was billed as output
    _send(chats, None, "claude-3-5-haiku-latest", temperature=0.3)
    assert _last_body(emulator)["temperature"] == 0.3


def test_gemini_gets_its_generation_config(chats: Chats, emulator: Emulator) -> None:
    _send(
        chats, None, "gemini-2.5-flash", temperature=1.2, max_output_tokens=900, thinking_budget=0
    )
    assert _last_body(emulator)["generationConfig"] == {
        "temperature": 1.2,
        "maxOutputTokens": 900,
        "thinkingConfig": {"thinkingBudget": 0},
    }


def test_no_settings_send_no_settings(chats: Chats, emulator: Emulator) -> None:
    _send(chats, None, "gemini-2.5-flash")
    assert "generationConfig" not in _last_body(emulator)
    _send(chats, None, "gpt-4o-mini")
    assert not {"temperature", "max_completion_tokens"} & set(_last_body(emulator))


def test_the_quote_worst_case_and_the_hold_follow_max_output(db: Database, chats: Chats) -> None:
    metered = _send(chats, None, "gpt-4o")
    conversation = metered.conversation_id
    assert conversation is not None
    unlimited = chats.quote(conversation, "Hello again", "demo", "gpt-4o")
    assert unlimited.reply_limit == 16384  # the model's own longest reply
    assert unlimited.hold == unlimited.prompt_cost
    chats.configure(conversation, model_settings=ModelSettings(max_output_tokens=1000))
    small = chats.quote(conversation, "Hello again", "demo", "gpt-4o")
    chats.configure(conversation, model_settings=ModelSettings(max_output_tokens=2000))
    large = chats.quote(conversation, "Hello again", "demo", "gpt-4o")
    assert small.reply_limit == 1000 and large.reply_limit == 2000
    assert small.worst_case is not None and large.worst_case is not None
    assert large.worst_case - small.worst_case == 1000 * large.rates.completion
    assert unlimited.worst_case == unlimited.prompt_cost + 16384 * unlimited.rates.completion
    # While the reply streams, the request holds its worst case of the balance.
    stream = chats.send(conversation, "Hello again", "demo", "gpt-4o")
    assert isinstance(next(stream), Opened)
    with db.read() as session:
        pending = session.query(Request).filter(Request.status == "pending").one()
        assert pending.hold == large.worst_case
    *_, settled = stream
    assert isinstance(settled, Metered)
