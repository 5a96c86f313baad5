"""Attachments in the chat: the chips of the composer's files, and the strip a sent message
shows its files in (a thumbnail for an image, a file chip for a PDF).

The files come from a dialog, a drop or the clipboard (:func:`from_mime`); each is read and
checked by :class:`~app.core.attachments.Attachment` (small work: a thumbnail is decoded once,
when its chip is made).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.attachments import Attachment, AttachmentRefused

CHIP_THUMBNAIL = 40
"""The side of a composer chip's thumbnail, in pixels."""
MESSAGE_THUMBNAIL = 160
"""The longest side of an image shown in a sent message."""
FILE_FILTER = "Images and PDFs (*.png *.jpg *.jpeg *.gif *.webp *.pdf)"


def from_mime(mime: QMimeData) -> tuple[list[Attachment], list[str]]:
    """The files a drop or a paste carries (local files, or an image on the clipboard), and a
    sentence for each that cannot be attached."""
    files: list[Attachment] = []
    problems: list[str] = []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    for path in paths:
        try:
            files.append(Attachment.from_path(path))
        except AttachmentRefused as error:
            problems.append(str(error))
    if not paths and mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            files.append(Attachment.from_bytes("Pasted image.png", png_bytes(image)))
    return files, problems


def carries_files(mime: QMimeData) -> bool:
    """Whether a drop or a paste is files or an image (rather than text to type in)."""
    return mime.hasImage() or any(url.isLocalFile() for url in mime.urls())


def png_bytes(image: QImage) -> bytes:
    """An image as PNG bytes (how a pasted picture is sent)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide wants str
    buffer.close()
    return bytes(data.data())


def thumbnail(attachment: Attachment, side: int) -> QPixmap | None:
    """An image scaled to fit ``side`` pixels (``None`` for a PDF or an unreadable image)."""
    if not attachment.is_image:
        return None
    image = QImage.fromData(attachment.data)
    if image.isNull():
        return None
    return QPixmap.fromImage(
        image.scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    )


def paperclip_icon(color: QColor, side: int = 20) -> QIcon:
    """A paperclip, drawn (no icon theme or emoji font is assumed)."""
    pixmap = QPixmap(side, side)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(color)
    pen.setWidthF(side / 10)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    s = side / 18
    path = QPainterPath(QPointF(12 * s, 5 * s))
    path.lineTo(12 * s, 13 * s)
    path.arcTo(6 * s, 10 * s, 6 * s, 6 * s, 0, -180)  # the bottom bend
    path.lineTo(6 * s, 4 * s)
    path.arcTo(6 * s, 1 * s, 4 * s, 4 * s, 180, -180)  # the top bend
    path.lineTo(10 * s, 12 * s)
    painter.drawPath(path)
    painter.end()
    return QIcon(pixmap)


class AttachmentChip(QFrame):
    """One file: a thumbnail (or "PDF"), its name and size, and (in the composer) a remove
    button.

    Signals:
        remove_requested(): the user asked to take the file off the draft.
    """

    remove_requested = Signal()

    def __init__(
        self, attachment: Attachment, *, removable: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.attachment = attachment
        self.setObjectName("attachmentChip")
        self.setStyleSheet(
            "QFrame#attachmentChip { border: 1px solid palette(mid); border-radius: 6px;"
            " background: palette(base); }"
        )
        self.setToolTip(f"{attachment.name} ({attachment.size_text})")
        self.preview = QLabel()
        self.preview.setFixedSize(CHIP_THUMBNAIL, CHIP_THUMBNAIL)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pixmap = thumbnail(attachment, CHIP_THUMBNAIL)
        if pixmap is not None:
            self.preview.setPixmap(pixmap)
        else:
            self.preview.setText("PDF" if not attachment.is_image else "?")
            self.preview.setStyleSheet(
                "background: #c0392b; color: white; font-weight: bold; border-radius: 4px;"
            )
        self.name = QLabel(_elided(attachment.name, 24))
        size = QLabel(attachment.size_text)
        size.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        words = QVBoxLayout()
        words.setSpacing(0)
        words.addWidget(self.name)
        words.addWidget(size)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        layout.addWidget(self.preview)
        layout.addLayout(words)
        self.remove_button = QToolButton()
        self.remove_button.setText("\u00d7")  # a multiplication sign: the usual close mark
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(f"Remove {attachment.name}")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.remove_button.setVisible(removable)
        layout.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)

    def _on_remove_button_clicked(self) -> None:
        self.remove_requested.emit()


class AttachmentTray(QWidget):
    """The draft's files, as removable chips in a row (hidden while there are none).

    Signals:
        changed(): a file was added or removed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._chips: list[AttachmentChip] = []
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(6)
        self._row.addStretch(1)
        self.hide()

    def attachments(self) -> tuple[Attachment, ...]:
        """The files, in the order they were added."""
        return tuple(chip.attachment for chip in self._chips)

    def chips(self) -> list[AttachmentChip]:
        """The chips shown, in order."""
        return list(self._chips)

    def add(self, files: Sequence[Attachment]) -> None:
        """Add files at the end."""
        for attachment in files:
            chip = AttachmentChip(attachment, removable=True)
            chip.remove_requested.connect(lambda chip=chip: self._remove(chip))
            self._row.insertWidget(len(self._chips), chip)
            self._chips.append(chip)
        if files:
            self.setVisible(True)
            self.changed.emit()

    def clear(self) -> None:
        """Take every file off (the message is on its way)."""
        if not self._chips:
            return
        for chip in self._chips:
            chip.deleteLater()
        self._chips = []
        self.hide()
        self.changed.emit()

    def _remove(self, chip: AttachmentChip) -> None:
        self._chips.remove(chip)
        chip.deleteLater()
        self.setVisible(bool(self._chips))
        self.changed.emit()


class AttachmentStrip(QWidget):
    """A sent message's files: images as thumbnails, PDFs as file chips."""

    def __init__(self, files: Sequence[Attachment], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentStrip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(6)
        for attachment in files:
            pixmap = thumbnail(attachment, MESSAGE_THUMBNAIL)
            if pixmap is None:
                chip = AttachmentChip(attachment, removable=False)
                layout.addWidget(chip, 0, Qt.AlignmentFlag.AlignBottom)  # as tall as its text
                continue
            image = QLabel()
            image.setObjectName("attachmentImage")
            image.setPixmap(pixmap)
            image.setFixedSize(pixmap.size())
            image.setToolTip(f"{attachment.name} ({attachment.size_text})")
            layout.addWidget(image, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addStretch(1)


def show_in_message(message: QWidget, body: QWidget, files: Sequence[Attachment]) -> None:
    """Put a strip of ``files`` in a message widget, just above its text ``body``."""
    layout = message.layout()
    if not files or not isinstance(layout, QBoxLayout):
        return
    layout.insertWidget(max(0, layout.indexOf(body)), AttachmentStrip(files))


def _elided(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
