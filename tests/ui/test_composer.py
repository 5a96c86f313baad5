"""The composer's quote flags a model priced at the default rate for unknown models, and the
reply's footer does too, against the real offline demo."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from pytestqt.qtbot import QtBot

from app.core.metering.client import Metered
from app.core.pricing.prices import Rates
from app.ui.chat import ChatView
from app.ui.chat.composer import Composer
from app.ui.chat.figures import DEFAULT_RATE_MARK

pytestmark = pytest.mark.gui

TYPO = "gpt-4o-mnii"
"""A plainly misspelt model: the price table does not know it, the demo answers it."""
FLAG = "⚠ unknown price: default $10/$30 per 1M"


def test_a_typod_model_is_flagged_in_the_quote_and_the_footer(
    qtbot: QtBot, chat_view: ChatView
) -> None:
    chat_view.set_selection("demo", TYPO)
    qtbot.keyClicks(chat_view.composer.editor, "How much will this cost?")
    label = chat_view.composer.estimate_label
    qtbot.waitUntil(lambda: label.text().endswith(f"to send · {FLAG}"), timeout=10_000)

    with qtbot.waitSignal(chat_view.reply_finished, timeout=20_000) as finished:
        qtbot.keyClick(
            chat_view.composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        )
    assert isinstance(finished.args[0], Metered)
    reply = [m for m in chat_view.messages() if m.role == "assistant"][-1]
    assert reply.footer_text().endswith(DEFAULT_RATE_MARK)


def test_a_known_model_carries_no_flag(qtbot: QtBot, chat_view: ChatView) -> None:
    chat_view.set_selection("demo", "gpt-4o-mini")
    qtbot.keyClicks(chat_view.composer.editor, "How much will this cost?")
    label = chat_view.composer.estimate_label
    qtbot.waitUntil(lambda: "to send" in label.text(), timeout=10_000)
    assert "unknown price" not in label.text()


def test_the_flagged_quote_is_not_dimmed_and_says_how_to_set_a_price(qtbot: QtBot) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    unit = {"input_tokens": Decimal(10), "output_tokens": Decimal(30)}
    unknown = Rates(TYPO, unit, "default for unknown model")
    composer.set_estimate(
        f"12 tokens · $0.00012 to send · {FLAG}", "What the prompt costs.", unknown
    )
    tip = composer.estimate_label.toolTip()
    assert tip.startswith("What the prompt costs.\n\nThe price table does not know 'gpt-4o-mnii'")
    assert "Tools > Prices…" in tip and "tallybook prices set MODEL" in tip
    assert composer.estimate_label.foregroundRole() == QPalette.ColorRole.WindowText

    known = Rates("gpt-4o-mini", unit, "genai-prices 0.2.3")
    composer.set_estimate("12 tokens · $0.00012 to send", "What the prompt costs.", known)
    assert composer.estimate_label.toolTip() == "What the prompt costs."
    assert composer.estimate_label.foregroundRole() == QPalette.ColorRole.PlaceholderText
