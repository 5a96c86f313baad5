"""Modal questions answered in tests without a modal loop."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import QMessageBox


@dataclass
class Questions:
    """The modal questions asked (their texts), each answered with ``answer``."""

    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.No
    asked: list[str] = field(default_factory=list)

    def __call__(self, _parent: object, _title: str, text: str, *_args: object) -> object:
        self.asked.append(text)
        return self.answer
