"""Logging: one rotating file per data folder, and no key ever reaches it, stderr or a traceback.

:func:`configure` sends every logger's records (the app's, httpx2's, the emulator's) to
``<data_dir>/logs/tallybook.log`` at ``TALLYBOOK_LOG_LEVEL`` (``INFO`` by default; ``DEBUG``
includes httpx2's connection trace) and warnings also to stderr, as Python does when nothing is
configured. Every record passes :class:`RedactingFilter` first, which masks each secret the
process has loaded (:func:`app.core.redaction.known_secrets`) and anything shaped like a provider
key, in the message, its arguments, the exception's traceback and the stack. Uncaught exceptions,
in the main thread or any other, go through the same scrubbing: one line on stderr for the app's
own errors (:class:`~app.core.errors.TallybookError`), the full traceback for anything else (a
bug), and the full traceback to the log either way.

SQLAlchemy's loggers stay at WARNING whatever the level: at INFO and below they would write
every statement with its parameters (message texts) and slow every write.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from app.core.errors import TallybookError
from app.core.redaction import redact

LEVEL_ENV = "TALLYBOOK_LOG_LEVEL"
DEFAULT_LEVEL = "INFO"
LOG_DIR = "logs"
LOG_NAME = "tallybook.log"
MAX_BYTES = 2_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"
QUIET = {"sqlalchemy": logging.WARNING, "alembic.runtime.plugins": logging.WARNING}
"""Loggers held above the chosen level (see the module docstring)."""
_TO_STDERR_ALREADY = "tallybook_on_stderr"

logger = logging.getLogger("app")


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide (or reveal) anything
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _NotYetOnStderr(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, _TO_STDERR_ALREADY, False)


def _handle_error_quietly(record: logging.LogRecord) -> None:
    """What a handler does when it cannot write: one line, no traceback.

    logging's own ``handleError`` prints the exception being handled, with its context: when
    the record was logged from an ``except`` block, that is the caller's exception, unredacted.
    """
    del record
    problem = type(sys.exc_info()[1]).__name__
    with contextlib.suppress(Exception):
        sys.stderr.write(f"tallybook: a log record could not be written ({problem})\n")


class _LogFileHandler(logging.handlers.RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging API)
        _handle_error_quietly(record)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced, or closed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging API)
        _handle_error_quietly(record)


@dataclass
class _Installed:
    handlers: list[logging.Handler]
    levels: dict[str, int]
    excepthook: Callable[..., object]
    threading_excepthook: Callable[..., object]


_installed: _Installed | None = None
_lock = threading.Lock()


def configure(data_dir: Path, level: str | None = None) -> Path:
    """Log to ``<data_dir>/logs/tallybook.log`` (rotated) and scrub uncaught exceptions.

    Calling it again replaces the previous set-up (a test, a second ledger). A folder that
    cannot be written leaves logging on stderr only: logging never stops the app.

    Args:
        data_dir: the folder of the ledger.
        level: a level name (``DEBUG``...); default ``$TALLYBOOK_LOG_LEVEL``, else ``INFO``.

    Returns:
        The log file's path (absent when it could not be created: a read-only folder).
    """
    global _installed
    path = data_dir / LOG_DIR / LOG_NAME
    chosen = _level(level or os.environ.get(LEVEL_ENV) or DEFAULT_LEVEL)
    redacting = RedactingFilter()
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        to_file = _LogFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        pass
    else:
        handlers.append(to_file)
    to_stderr = _StderrHandler()
    to_stderr.setLevel(logging.WARNING)
    to_stderr.addFilter(_NotYetOnStderr())
    handlers.append(to_stderr)
    for handler in handlers:
        handler.addFilter(redacting)  # added last: runs after the handler's own filters
        handler.setFormatter(formatter)
    with _lock:
        reset()
        root = logging.getLogger()
        levels = {"": root.level} | {name: logging.getLogger(name).level for name in QUIET}
        root.setLevel(chosen)
        for name, quiet in QUIET.items():
            logging.getLogger(name).setLevel(max(quiet, chosen))
        for handler in handlers:
            root.addHandler(handler)
        _installed = _Installed(handlers, levels, sys.excepthook, threading.excepthook)
        sys.excepthook = _excepthook
        threading.excepthook = _threading_excepthook
    logger.debug("logging at %s to %s", logging.getLevelName(chosen), path)
    return path


def reset() -> None:
    """Undo :func:`configure`: remove its handlers, restore levels and exception hooks."""
    global _installed
    installed, _installed = _installed, None
    if installed is None:
        return
    root = logging.getLogger()
    for handler in installed.handlers:
        root.removeHandler(handler)
        handler.close()
    for name, level in installed.levels.items():
        logging.getLogger(name or None).setLevel(level)
    if sys.excepthook is _excepthook:
        sys.excepthook = installed.excepthook
    if threading.excepthook is _threading_excepthook:
        threading.excepthook = installed.threading_excepthook


def _level(name: str) -> int:
    level = logging.getLevelName(name.strip().upper())
    return level if isinstance(level, int) else logging.INFO


def _excepthook(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    _report(kind, error, trace, "Uncaught exception")


def _threading_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "a thread"
    _report(args.exc_type, args.exc_value, args.exc_traceback, f"Uncaught exception in {name}")


def _report(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None, what: str
) -> None:
    text = redact("".join(traceback.format_exception(kind, error, trace)))
    if isinstance(error, TallybookError):
        shown = f"tallybook: error: {redact(str(error))}\n"
    elif isinstance(error, KeyboardInterrupt):
        shown = "tallybook: interrupted\n"
    else:
        shown = text
    with contextlib.suppress(Exception):  # stderr may be closed (a GUI started from a menu)
        sys.stderr.write(shown)
        sys.stderr.flush()
    logger.critical("%s\n%s", what, text.rstrip("\n"), extra={_TO_STDERR_ALREADY: True})
