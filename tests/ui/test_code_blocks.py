"""A reply's fenced code blocks: their language on a header, a Copy link that copies exactly the
code, colours by language in light and dark palettes, and a block streamed in ends coloured."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QTextCursor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.ui.chat import message
from app.ui.chat.blocks import fences
from app.ui.chat.code_blocks import COPIED, COPY, PLACEHOLDER, with_placeholders
from app.ui.chat.message import MarkdownView, MessageWidget

gui = pytest.mark.gui

CODE = 'def total(items):\n\tresult = 0  \n\n    return sum(items)  # "done"'
"""Tabs, trailing spaces, a blank line: what Qt's own Markdown import does not keep as written."""
REPLY = f"Add them up:\n\n```python\n{CODE}\n```\n\nThe output:\n\n```\n$ total\n42\n```\n"


def test_fences_are_found_with_their_language_and_exact_code() -> None:
    found = fences(REPLY)

    assert [(fence.language, fence.code, fence.closed) for fence in found] == [
        ("python", CODE, True),
        ("", "$ total\n42", True),
    ]
    assert REPLY[found[0].start : found[0].end] == f"```python\n{CODE}\n```"


def test_fences_in_a_list_item_lose_its_indent_and_adjacent_ones_stay_apart() -> None:
    text = "1. Install:\n\n   ~~~sh title=x\n   pip install a\n     --user\n   ~~~\n```js\n1\n```"

    found = fences(text)

    assert [(f.language, f.info, f.code, f.indent) for f in found] == [
        ("sh", "sh title=x", "pip install a\n  --user", 3),
        ("js", "js", "1", 0),
    ]


def test_what_is_not_a_fence_or_not_closed_yet() -> None:
    assert fences("``not a fence``\n``` a`b\n    ```indented code\n> ```quoted\n") == []
    (open_fence,) = fences("Text\n````py\nx = 1\n```\nstill code")
    assert not open_fence.closed and open_fence.code == "x = 1\n```\nstill code"


def test_each_fence_becomes_a_numbered_placeholder_paragraph() -> None:
    text = "Intro\n```py\nx\n```\nafter\n\n  ```\n  y\n  ```"

    assert with_placeholders(text, fences(text)) == (
        f"Intro\n\n\n{PLACEHOLDER}0\n\n\nafter\n\n\n\n  {PLACEHOLDER}1\n\n"
    )


def shown(qtbot: QtBot, text: str) -> MarkdownView:
    view = MarkdownView()
    qtbot.addWidget(view)
    view.resize(600, 200)
    view.set_content(text)
    view.show()
    qtbot.waitExposed(view)
    return view


def click_copy(qtbot: QtBot, view: MarkdownView, number: int = 0) -> None:
    """Click the ``number``-th Copy link the way a user does."""
    link = view.document().find(COPY)
    for _ in range(number):
        link = view.document().find(COPY, link)
    assert not link.isNull()
    inside = QTextCursor(link)
    inside.setPosition(link.selectionStart() + 2)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.cursorRect(inside).center()
    )


def foreground(view: MarkdownView, word: str) -> QColor:
    found = view.document().find(word)
    assert not found.isNull(), word
    return found.charFormat().foreground().color()


@gui
def test_a_code_block_shows_its_language_and_copy(qtbot: QtBot) -> None:
    view = shown(qtbot, REPLY)

    lines = view.toPlainText().splitlines()
    assert f"python\t{COPY}" in lines
    assert f"text\t{COPY}" in lines  # no language: still a Copy link
    assert view.code_blocks() == [CODE, "$ total\n42"]


@gui
def test_copy_puts_exactly_the_code_on_the_clipboard_and_says_copied(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message, "COPIED_MS", 50)
    view = shown(qtbot, REPLY)
    QGuiApplication.clipboard().setText("")

    click_copy(qtbot, view)

    assert QGuiApplication.clipboard().text() == CODE
    lines = view.toPlainText().splitlines()
    assert f"python\t{COPIED}" in lines and lines[lines.index(f"python\t{COPIED}") + 1 :][:4] == (
        CODE.splitlines()  # the code is still shown, under the header
    )
    qtbot.waitUntil(lambda: COPIED not in view.toPlainText(), timeout=2_000)
    assert f"python\t{COPY}" in view.toPlainText().splitlines()

    click_copy(qtbot, view, 1)  # the block with no language
    assert QGuiApplication.clipboard().text() == "$ total\n42"
    click_copy(qtbot, view)  # a link that said Copied is a link again
    assert QGuiApplication.clipboard().text() == CODE
    assert view.toPlainText().count(CODE.splitlines()[-1]) == 1


@gui
def test_code_selected_by_hand_copies_as_written(qtbot: QtBot) -> None:
    view = shown(qtbot, REPLY)
    start = view.document().find("def total").selectionStart()
    selection = QTextCursor(view.document())
    selection.setPosition(start)
    selection.setPosition(start + len(CODE), QTextCursor.MoveMode.KeepAnchor)
    view.setTextCursor(selection)

    view.copy()

    assert QGuiApplication.clipboard().text() == CODE


@gui
def test_python_keywords_are_coloured_apart_from_plain_text_in_light_and_dark(
    qtbot: QtBot, qapp: QApplication
) -> None:
    view = shown(qtbot, REPLY)
    keyword, plain = foreground(view, "def"), foreground(view, "items")
    assert keyword != plain
    assert foreground(view, "$ total") == plain  # no language: no colours

    light = QPalette(qapp.palette())
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    qapp.setPalette(dark)  # the theme turns dark: shown replies are coloured again
    try:
        qtbot.waitUntil(lambda: foreground(view, "def") != keyword, timeout=2_000)
        dark_keyword = foreground(view, "def")
        assert dark_keyword != foreground(view, "items")
    finally:
        qapp.setPalette(light)
    assert dark_keyword.lightnessF() > 0.5 > keyword.lightnessF()  # each reads on its ground


@gui
def test_a_block_streamed_in_is_plain_while_open_and_coloured_once_closed(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message, "RENDER_DELAY_MS", 1)
    widget = MessageWidget("assistant")
    qtbot.addWidget(widget)
    widget.show()
    widget.start_streaming("gpt-4o-mini")

    def stream(text: str) -> None:
        widget.append(text)
        qtbot.waitUntil(lambda: widget.rendered_text() == widget.text(), timeout=2_000)

    stream("Add them up:\n\n```python\ndef total(items):\n    return 1")
    assert foreground(widget.body, "def") == foreground(widget.body, "items")  # open: plain
    stream("\n```\n\nThat is all")
    assert widget.is_streaming()
    assert foreground(widget.body, "def") != foreground(widget.body, "items")

    widget.finish(widget.text(), None, 7)
    assert foreground(widget.body, "def") != foreground(widget.body, "items")
    assert widget.body.code_blocks() == ["def total(items):\n    return 1"]
