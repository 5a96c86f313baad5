"""File > Export… as a user picks a file type: CSV for Excel and the Excel workbook."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from PySide6.QtWidgets import QFileDialog, QMainWindow
from pytestqt.qtbot import QtBot

from app.core.ledger import entries
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.transactions import export
from tests.factories import spend

pytestmark = pytest.mark.gui
WAIT_MS = 20_000


@pytest.fixture
def window(qtbot: QtBot, db: Database) -> QMainWindow:
    with db.write() as session:
        entries.spend_tokens(session, spend(10, 5), now=datetime(2026, 12, 1, 9, 44, 6, 430213))
        entries.spend_tokens(session, spend(20, 5), now=datetime(2026, 9, 3, 8))
    shown = QMainWindow()
    qtbot.addWidget(shown)
    return shown


def _choose(monkeypatch: pytest.MonkeyPatch, path: Path, file_type: str) -> list[str]:
    """The user picks ``path`` and ``file_type``; returns the types the dialog offered."""
    offered: list[str] = []

    def dialog(*args: object) -> tuple[str, str]:
        offered.extend(str(args[3]).split(";;"))
        return str(path), file_type

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    return offered


def test_the_dialog_offers_csv_for_excel(
    qtbot: QtBot,
    window: QMainWindow,
    context: AppContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offered = _choose(monkeypatch, tmp_path / "for-excel.csv", export.EXCEL_CSV_FILTER)
    job = export.run_export(context, window)
    assert job is not None
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        pass
    assert offered == [
        export.CSV_FILTER,
        export.EXCEL_CSV_FILTER,
        export.XLSX_FILTER,
        export.JSON_FILTER,
    ]
    text = (tmp_path / "for-excel.csv").read_bytes().decode("utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("\ufeffcreated_at (UTC),")
    assert [line[:19] for line in lines[1:]] == ["2026-09-03 08:00:00"] * 2 + [
        "2026-12-01 09:44:06"
    ] * 2
    assert window.statusBar().currentMessage().startswith("Exported 4 transactions")


def test_a_name_without_extension_and_the_workbook_type_writes_a_workbook(
    qtbot: QtBot,
    window: QMainWindow,
    context: AppContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _choose(monkeypatch, tmp_path / "spend", export.XLSX_FILTER)
    job = export.run_export(context, window)
    assert job is not None
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        pass
    target = tmp_path / "spend.xlsx"
    assert zipfile.is_zipfile(target)
    sheet = openpyxl.load_workbook(target).active
    assert sheet is not None
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        datetime(2026, 9, 3, 8),
        datetime(2026, 9, 3, 8),
        datetime(2026, 12, 1, 9, 44, 6, 430000),
        datetime(2026, 12, 1, 9, 44, 6, 430000),
    ]
