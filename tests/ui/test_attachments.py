"""Attachments in the chat window: added by the paperclip, a drop or a paste, removable before
sending, priced in the live estimate, shown in the sent message and again when it is reopened;
and the draft that grows with its text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.storage.db import Database
from app.ui.chat import ChatView
from app.ui.chat.attachments import AttachmentStrip

pytestmark = pytest.mark.gui

REPLY_TIMEOUT = 10_000


def png_file(folder: Path, name: str, width: int, height: int) -> Path:
    path = folder / name
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def pdf_file(folder: Path) -> Path:
    path = folder / "report.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF")
    return path


def estimate(qtbot: QtBot, view: ChatView, changed_from: str = "") -> str:
    label = view.composer.estimate_label
    qtbot.waitUntil(
        lambda: "to send" in label.text() and label.text() != changed_from, timeout=5_000
    )
    return label.text()


def test_the_paperclip_adds_files_as_chips_that_can_be_removed(
    qtbot: QtBot, chat_view: ChatView, tmp_path: Path
) -> None:
    composer = chat_view.composer
    assert composer.tray.isHidden()
    composer.add_paths([png_file(tmp_path, "cat.png", 64, 64), pdf_file(tmp_path)])
    assert [a.name for a in composer.attachments()] == ["cat.png", "report.pdf"]
    assert composer.tray.isVisible() and len(composer.tray.chips()) == 2
    assert composer.send_button.isEnabled()  # files alone may be sent
    qtbot.mouseClick(composer.tray.chips()[0].remove_button, Qt.MouseButton.LeftButton)
    assert [a.name for a in composer.attachments()] == ["report.pdf"]
    note = tmp_path / "notes.txt"
    note.write_text("words")
    composer.add_paths([note])
    assert "notes.txt is not an image" in composer.notice.text() and composer.notice.isVisible()
    assert [a.name for a in composer.attachments()] == ["report.pdf"]


def drop(target: QWidget, mime: QMimeData) -> None:
    """What a drag from a file manager delivers: the drag entering, then the drop."""
    action, button, keys = (
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPoint(10, 10), action, mime, button, keys)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(QPointF(10, 10), action, mime, button, keys))


def test_files_dropped_on_the_composer_are_attached(
    qtbot: QtBot, chat_view: ChatView, tmp_path: Path
) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png_file(tmp_path, "drop.png", 32, 32)))])
    for target in (chat_view.composer, chat_view.composer.editor.viewport()):
        drop(target, mime)
    assert [a.name for a in chat_view.composer.attachments()] == ["drop.png", "drop.png"]
    assert chat_view.composer.text() == ""  # the path was not typed in


def test_a_pasted_image_is_attached_not_typed(qtbot: QtBot, chat_view: ChatView) -> None:
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkGreen)
    mime = QMimeData()
    mime.setImageData(image)
    QApplication.clipboard().setMimeData(mime)
    chat_view.composer.editor.setFocus()
    chat_view.composer.editor.paste()
    (pasted,) = chat_view.composer.attachments()
    assert (pasted.name, pasted.media_type) == ("Pasted image.png", "image/png")
    assert QImage.fromData(pasted.data).size().width() == 40


def test_the_estimate_includes_an_image_and_the_message_shows_it_when_reopened(
    qtbot: QtBot, chat_view: ChatView, db: Database, tmp_path: Path
) -> None:
    chat_view.set_selection("demo", "gpt-4o")
    chat_view.composer.set_text("What colour is this?")
    bare = estimate(qtbot, chat_view)
    chat_view.composer.add_paths([png_file(tmp_path, "photo.png", 1024, 1024)])
    with_image = estimate(qtbot, chat_view, changed_from=bare)
    tokens = [
        int(line.split(" tokens")[0].lstrip("≈ ").replace(",", "")) for line in (bare, with_image)
    ]
    assert tokens[1] - tokens[0] == 765  # 85 + 170 x 4 tiles, OpenAI's formula for 1024x1024

    with qtbot.waitSignal(chat_view.reply_finished, timeout=REPLY_TIMEOUT):
        qtbot.mouseClick(chat_view.composer.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chat_view.is_busy(), timeout=REPLY_TIMEOUT)
    assert chat_view.composer.attachments() == ()
    prompt = chat_view.messages()[0]
    assert len(prompt.findChildren(AttachmentStrip)) == 1
    conversation = chat_view.current_conversation()
    assert conversation is not None
    with db.read() as session:
        assert [a.name for a in conversations.messages(session, conversation)[0].attachments] == [
            "photo.png"
        ]

    chat_view.open_conversation(None)
    chat_view.open_conversation(conversation)
    qtbot.waitUntil(lambda: len(chat_view.messages()) == 2, timeout=5_000)
    reopened = chat_view.messages()[0]
    (strip,) = reopened.findChildren(AttachmentStrip)
    (image,) = [label for label in strip.children() if label.objectName() == "attachmentImage"]
    assert image.pixmap().width() == 160  # a thumbnail, not the full 1024 px


def test_a_model_that_cannot_take_the_file_says_so_in_the_composer(
    qtbot: QtBot, chat_view: ChatView, tmp_path: Path
) -> None:
    chat_view.set_selection("demo", "gpt-3.5-turbo")
    chat_view.composer.set_text("Look")
    chat_view.composer.add_paths([png_file(tmp_path, "photo.png", 10, 10)])
    label = chat_view.composer.estimate_label
    qtbot.waitUntil(lambda: "takes text only" in label.text(), timeout=5_000)


def test_the_draft_grows_with_its_text_and_then_scrolls(qtbot: QtBot, chat_view: ChatView) -> None:
    editor = chat_view.composer.editor
    short = editor.height()
    chat_view.composer.set_text("\n".join(f"line {i}" for i in range(6)))
    taller = editor.height()
    assert taller > short
    chat_view.composer.set_text("\n".join(f"line {i}" for i in range(200)))
    tallest = editor.height()
    assert taller < tallest <= chat_view.height() // 3
    assert editor.verticalScrollBar().maximum() > 0  # the rest scrolls
    chat_view.composer.clear()
    assert editor.height() == short
