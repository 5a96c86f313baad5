"""Exporting transactions from the app: a file dialog, a background job and its progress dialog.

The writing itself is :func:`app.core.ledger.export.export` (the same files as
``tallybook export``: CSV, CSV for Excel, an Excel workbook or JSON, the user picks the type in
the file dialog), run on the context's stream threads so a long export never
holds up the database thread the other views read through. The core writes to a hidden
partial file and renames it at the end, so Cancel (or a failure) leaves nothing under the
chosen name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QWidget,
)

from app.core.ledger import browse
from app.core.ledger import export as core_export
from app.core.ledger.export import ExportCancelled, Format
from app.core.ledger.selection import Selection
from app.ui.context import AppContext
from app.ui.errors import describe

CSV_FILTER = "CSV spreadsheet (*.csv)"
EXCEL_CSV_FILTER = "CSV for Excel (*.csv)"
"""A byte order mark, and times Excel reads as times (UTC, to the second)."""
XLSX_FILTER = "Excel workbook (*.xlsx)"
JSON_FILTER = "JSON (*.json)"
_FORMATS = {
    CSV_FILTER: Format.CSV,
    EXCEL_CSV_FILTER: Format.EXCEL_CSV,
    XLSX_FILTER: Format.XLSX,
    JSON_FILTER: Format.JSON,
}
"""The file dialog's types, in its order, and the format each writes."""
_SUFFIXES = {
    Format.CSV: ".csv",
    Format.EXCEL_CSV: ".csv",
    Format.XLSX: ".xlsx",
    Format.JSON: ".json",
}
_STATUS_MS = 10_000
_running: set[ExportJob] = set()
"""Jobs still writing: kept alive here until their last signal, whoever started them."""


class ExportJob(QObject):
    """One export of a filter to a file, on a stream thread; cancellable between pages.

    Create it, connect what you need, then :meth:`start`. Exactly one of ``finished``,
    ``cancelled`` or ``failed`` ends it.

    Signals:
        counted(int): how many transactions the export will write (read in the same snapshot).
        progressed(int): rows written so far, after each page. Emitted from the worker thread:
            connect with the default (queued) connection unless you mean to run in it.
        finished(int): the file is complete under its name; how many rows it has.
        cancelled(): stopped on request; no file was left under the target name.
        failed(object): the exception (for :func:`app.ui.errors.describe`); no file was left.
    """

    counted = Signal(int)
    progressed = Signal(int)
    finished = Signal(int)
    cancelled = Signal()
    failed = Signal(object)

    def __init__(
        self,
        context: AppContext,
        target: Path,
        selection: Selection | None = None,
        parent: QObject | None = None,
        *,
        fmt: Format | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.target = target
        self.selection = selection or Selection()
        self.format = fmt
        """``None``: from the target's extension (an unknown one fails the job, saying why)."""
        self.written: int | None = None
        """Rows in the finished file (``None`` until it is finished)."""
        self._cancel = threading.Event()
        self._running = False

    @property
    def running(self) -> bool:
        """Started and not yet ended."""
        return self._running

    def start(self) -> None:
        """Start writing in the background."""
        if self._running or self.written is not None:
            return
        self._running = True
        _running.add(self)
        self.context.streams.run(self._work, self._on_work_done, self._on_work_failed)

    def cancel(self) -> None:
        """Stop at the next page; the partial file is removed. Safe from any thread."""
        self._cancel.set()

    def _work(self) -> int:
        """Runs on a stream thread: count, then write, in one consistent snapshot."""
        with self.context.db.read() as session:
            self.counted.emit(browse.totals(session, self.selection).transactions)
            return core_export.export(
                session, self.target, self.selection, fmt=self.format, progress=self._progress
            )

    def _progress(self, written: int) -> bool:
        self.progressed.emit(written)
        return not self._cancel.is_set()

    def _on_work_done(self, written: int) -> None:
        self.written = written
        self._end()
        self.finished.emit(written)

    def _on_work_failed(self, error: BaseException) -> None:
        self._end()
        if isinstance(error, ExportCancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(error)

    def _end(self) -> None:
        self._running = False
        # Let go after the ending signal has been delivered, not during it.
        QTimer.singleShot(0, lambda: _running.discard(self))


class ExportProgress(QObject):
    """Shows a job to the user: a progress dialog with Cancel, then the outcome.

    The dialog appears only when the export takes a moment; its bar counts rows written out of
    the total. A failure is shown in a message box (without blocking), a success or a cancel in
    the main window's status bar when there is one.
    """

    def __init__(self, job: ExportJob, parent: QWidget) -> None:
        super().__init__(job)
        self._job = job
        self._parent = parent
        self._total = 0
        self.dialog = QProgressDialog("Counting transactions…", "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle("Exporting transactions")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.setMinimumDuration(300)
        self.dialog.setMinimumWidth(360)
        self.dialog.canceled.connect(self._on_dialog_canceled)
        job.counted.connect(self._on_job_counted)
        job.progressed.connect(self._on_job_progressed)
        job.finished.connect(self._on_job_finished)
        job.cancelled.connect(self._on_job_cancelled)
        job.failed.connect(self._on_job_failed)

    def _on_dialog_canceled(self) -> None:
        self._job.cancel()

    def _on_job_counted(self, total: int) -> None:
        self._total = total
        self.dialog.setMaximum(max(total, 1))
        self.dialog.setLabelText(f"Exporting {total:,} transactions to {self._job.target.name}…")

    def _on_job_progressed(self, written: int) -> None:
        if not shiboken6.isValid(self.dialog) or self.dialog.wasCanceled():
            return
        total = max(self._total, written)
        self.dialog.setMaximum(max(total, 1))
        self.dialog.setValue(written)
        self.dialog.setLabelText(
            f"Exported {written:,} of {total:,} transactions to {self._job.target.name}…"
        )

    def _on_job_finished(self, written: int) -> None:
        self._close_dialog()
        self._status(f"Exported {written:,} transactions to {self._job.target}.")

    def _on_job_cancelled(self) -> None:
        self._close_dialog()
        self._status("Export cancelled; no file was written.")

    def _on_job_failed(self, error: BaseException) -> None:
        self._close_dialog()
        if not shiboken6.isValid(self._parent):
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Export failed", describe(error), parent=self._parent
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _close_dialog(self) -> None:
        if not shiboken6.isValid(self.dialog):
            return
        self.dialog.canceled.disconnect(self._on_dialog_canceled)
        self.dialog.reset()  # stops the timer that would show it later
        self.dialog.hide()
        self.dialog.deleteLater()

    def _status(self, text: str) -> None:
        if not shiboken6.isValid(self._parent):
            return
        window = self._parent.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(text, _STATUS_MS)


def start_export(
    context: AppContext,
    target: Path,
    selection: Selection | None,
    parent: QWidget,
    fmt: Format | None = None,
) -> ExportJob:
    """Export ``selection`` (everything when ``None``) to ``target`` with a progress dialog,
    as ``fmt`` (default: from the target's extension).

    Returns the running job; its signals say how it ended.
    """
    job = ExportJob(context, target, selection, fmt=fmt)
    ExportProgress(job, parent)
    job.start()
    return job


@dataclass(frozen=True)
class ExportChoice:
    """Where the user asked to export to, and as what."""

    path: Path
    format: Format


def ask_export(parent: QWidget, stem: str = "tallybook-transactions") -> ExportChoice | None:
    """Ask where to write and as which type: CSV, CSV for Excel, Excel workbook or JSON.

    Returns ``None`` when the user cancels. A name typed without an extension gets the one of
    the selected file type; a ``.csv`` name with "CSV for Excel" selected gets that flavour.
    """
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    suggested = Path(folder or Path.home()) / f"{stem}-{date.today().isoformat()}.csv"
    chosen, file_type = QFileDialog.getSaveFileName(
        parent, "Export transactions", str(suggested), ";;".join(_FORMATS), CSV_FILTER
    )
    if not chosen:
        return None
    picked = _FORMATS.get(file_type, Format.CSV)
    target = Path(chosen)
    if target.suffix.lower() not in (".csv", ".xlsx", ".json"):
        target = target.with_name(target.name + _SUFFIXES[picked])
    excel = picked is Format.EXCEL_CSV and target.suffix.lower() == ".csv"
    return ExportChoice(target, Format.for_path(target, excel=excel))


def run_export(
    context: AppContext, parent: QWidget, selection: Selection | None = None
) -> ExportJob | None:
    """Ask for a file and a type, then export ``selection`` (everything when ``None``) to it."""
    choice = ask_export(parent)
    if choice is None:
        return None
    return start_export(context, choice.path, selection, parent, choice.format)


def export_all(context: AppContext, parent: QWidget) -> None:
    """File > Export…: every transaction, to a file of the type the user picks."""
    run_export(context, parent, None)
