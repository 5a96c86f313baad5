"""``tallybook``: start the app, or manage the ledger from a terminal.

Parses arguments, calls the core, prints. Every failure the user can fix is one line on stderr
and a non-zero exit (1 for a refused operation, 2 for a malformed command line); nothing is
written unless the whole operation succeeds.

A command's module is imported when that command runs (the parser names it as text), so opening
the window does not first load every command's core: the window is painted before SQLAlchemy
is even imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.cli.parser import build_parser
from app.core import logs
from app.core.errors import Remedy, SpendRefused, TallybookError
from app.core.paths import data_dir, database_path

if TYPE_CHECKING:
    from app.core.storage.db import Database

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace, "Database"], int]

REMEDIES = {
    Remedy.ADD_CREDITS: "Add credits with `tallybook add-balance AMOUNT`, or stop checking with"
    " `tallybook set-balance --disable`.",
    Remedy.BUDGETS: "See `tallybook budgets list`; `tallybook budgets remove ID` lifts a budget.",
}
"""What a refused request's user can do, in the command line's words (the window has buttons)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tallybook`` console script and of ``python main.py``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(data_dir(args.data_dir))  # a log file, and no key in it or in a traceback
    standalone: str | None = getattr(args, "standalone", None)
    if standalone is not None:  # needs no ledger
        run_alone: Callable[[argparse.Namespace], int] = command(standalone)
        return run_alone(args)
    handler: str | None = getattr(args, "handler", None)
    if handler is None:
        from app.ui.launch import run_gui  # Qt is imported only when a window is wanted

        return run_gui(data_dir=args.data_dir, quit_after=getattr(args, "quit_after", None))
    return _run(command(handler), args)


def command(name: str) -> Any:
    """The function a parser names as ``module.function`` (a module of :mod:`app.cli`)."""
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(f"app.cli.{module}"), function)


def _run(handler: Handler, args: argparse.Namespace) -> int:
    from app.core.storage.db import Database
    from app.servers.emulator.demo import OfflineDemo

    try:
        db = Database(database_path(args.data_dir))
    except TallybookError as error:
        return _fail(error)
    try:
        with OfflineDemo():  # started only if a command sends to the demo
            return handler(args, db)
    except TallybookError as error:
        return _fail(error)
    except BrokenPipeError:  # `tallybook export ... | head`
        return 0
    finally:
        db.close()


def _fail(error: TallybookError) -> int:
    remedy = f" {REMEDIES[error.remedy]}" if isinstance(error, SpendRefused) else ""
    print(f"tallybook: error: {error}{remedy}", file=sys.stderr)
    return 1
