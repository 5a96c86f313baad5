"""The Model settings dialog and what it changes: only the settings the model takes, saved with
the conversation, summed up in the header and reflected in the composer's estimate."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from PySide6.QtWidgets import QComboBox, QDialogButtonBox, QSpinBox
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.model_settings import ModelSettings, offered
from app.core.storage.db import Database
from app.core.types import WireApi
from app.ui.chat import ChatView
from app.ui.dialogs.model_settings import ModelSettingsDialog, summary
from tests.ui.test_chat import send

pytestmark = pytest.mark.gui


def _dialog(qtbot: QtBot, view: ChatView) -> ModelSettingsDialog:
    """Press the header's button and wait for the dialog it opens."""
    view.header.settings_button.click()
    qtbot.waitUntil(lambda: view.findChild(ModelSettingsDialog) is not None, timeout=5_000)
    dialog = view.findChild(ModelSettingsDialog)
    assert isinstance(dialog, ModelSettingsDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=3_000)
    return dialog


def _ok(dialog: ModelSettingsDialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    assert isinstance(box, QDialogButtonBox)
    button = box.button(QDialogButtonBox.StandardButton.Ok)
    assert button is not None
    button.click()


def test_the_dialog_shows_only_what_the_model_takes(qtbot: QtBot) -> None:
    shown = {
        model: ModelSettingsDialog(model, offered(api, model, limit), ModelSettings())
        for api, model, limit in [
            (WireApi.OPENAI_CHAT, "gpt-4o", 16384),
            (WireApi.OPENAI_CHAT, "o3-mini", 100000),
            (WireApi.ANTHROPIC, "claude-sonnet-4", 64000),
            (WireApi.GEMINI, "gemini-2.5-flash", 65536),
        ]
    }
    for dialog in shown.values():
        qtbot.addWidget(dialog)
    assert set(shown["gpt-4o"].rows) == {"temperature", "max_output_tokens"}
    assert set(shown["o3-mini"].rows) == {"max_output_tokens", "reasoning_effort"}
    assert set(shown["claude-sonnet-4"].rows) == {
        "temperature",
        "max_output_tokens",
        "thinking_budget",
    }
    assert set(shown["gemini-2.5-flash"].rows) == {
        "temperature",
        "max_output_tokens",
        "thinking_budget",
    }
    effort = shown["o3-mini"].rows["reasoning_effort"].editor
    assert isinstance(effort, QComboBox)
    assert [effort.itemText(i) for i in range(effort.count())] == ["low", "medium", "high"]
    # Every setting starts at Default, its editor idle, and says what it does to the cost.
    for row in shown["claude-sonnet-4"].rows.values():
        assert row.default.isChecked() and not row.editor.isEnabled() and row.effect.text()
    assert shown["gpt-4o"].settings() == ModelSettings()


def test_the_dialog_refuses_what_the_model_would_refuse(qtbot: QtBot) -> None:
    offer = replace(offered(WireApi.ANTHROPIC, "claude-sonnet-4", 64000), output_rate=Decimal(15))
    dialog = ModelSettingsDialog("claude-sonnet-4", offer, ModelSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    limit, budget = dialog.rows["max_output_tokens"], dialog.rows["thinking_budget"]
    limit.default.setChecked(False)
    budget.default.setChecked(False)
    assert isinstance(limit.editor, QSpinBox) and isinstance(budget.editor, QSpinBox)
    limit.editor.setValue(2048)
    budget.editor.setValue(4096)
    _ok(dialog)
    assert dialog.isVisible() and "below the max output" in dialog.message.text()
    budget.editor.setValue(1024)
    assert "up to $0.015 of thinking" in budget.effect.text()  # 1,024 tokens at $15 per 1M
    assert "at most $0.031 a reply" in limit.effect.text()
    _ok(dialog)
    assert not dialog.isVisible()
    assert dialog.settings() == ModelSettings(max_output_tokens=2048, thinking_budget=1024)


def test_saving_updates_the_header_the_estimate_and_the_conversation(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o")
    send(qtbot, view, "Hello")
    conversation_id = view.current_conversation()
    assert conversation_id is not None
    assert view.header.settings_button.text() == "Model settings…"

    view.composer.set_text("And again")
    label = view.composer.estimate_label
    qtbot.waitUntil(lambda: "max output 16,384" in label.toolTip(), timeout=5_000)
    assert "the model's limit" in label.toolTip()

    dialog = _dialog(qtbot, view)
    assert set(dialog.rows) == {"temperature", "max_output_tokens"}
    limit, temperature = dialog.rows["max_output_tokens"], dialog.rows["temperature"]
    limit.default.setChecked(False)
    temperature.default.setChecked(False)
    assert isinstance(limit.editor, QSpinBox)
    limit.editor.setValue(2048)
    temperature.editor.setValue(0.2)  # type: ignore[attr-defined]
    _ok(dialog)

    chosen = ModelSettings(temperature=0.2, max_output_tokens=2048)
    assert summary(chosen) == "temp 0.2 · max 2,048"
    assert view.header.settings_button.text() == "Model: temp 0.2 · max 2,048"
    qtbot.waitUntil(lambda: "max output 2,048" in label.toolTip(), timeout=5_000)
    assert "this conversation's limit" in label.toolTip()

    def stored() -> ModelSettings:
        with db.read() as session:
            return conversations.get_conversation(session, conversation_id).model_settings

    qtbot.waitUntil(lambda: stored() == chosen, timeout=3_000)
    view.open_conversation(None)  # a new conversation starts with the defaults
    assert view.header.settings_button.text() == "Model settings…"
    view.open_conversation(conversation_id)
    qtbot.waitUntil(lambda: view.header.model_settings() == chosen, timeout=3_000)
    assert view.header.settings_button.text() == "Model: temp 0.2 · max 2,048"


def test_a_new_conversation_is_created_with_the_settings_chosen_before_it(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o")
    dialog = _dialog(qtbot, view)
    limit = dialog.rows["max_output_tokens"]
    limit.default.setChecked(False)
    assert isinstance(limit.editor, QSpinBox)
    limit.editor.setValue(1000)
    assert "$" in limit.effect.text() and "1,000 output tokens" in limit.effect.text()
    _ok(dialog)
    view.composer.set_text("Hello")
    label = view.composer.estimate_label
    qtbot.waitUntil(lambda: "max output 1,000" in label.toolTip(), timeout=5_000)
    assert view.header.settings_button.text() == "Model: max 1,000"
    send(qtbot, view, "Hello")
    conversation_id = view.current_conversation()
    assert conversation_id is not None
    with db.read() as session:
        stored = conversations.get_conversation(session, conversation_id).model_settings
    assert stored == ModelSettings(max_output_tokens=1000)
