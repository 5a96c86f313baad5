"""The window's writes on the writer thread, its repeated reads, and answers that come too late.

A write needs no announcement of its own: the ledger announces every commit (``AppEvents.changed``,
:mod:`app.ui.live`), so each view refreshes whoever wrote. What is left for the caller is where
the work runs, and that an answer reaches only a widget that still exists and still wants it
(Anki's ``CollectionOp`` and ``QueryOp``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject
from sqlalchemy.orm import Session

from app.ui.context import AppContext

T = TypeVar("T")


def run_write(
    context: AppContext,
    owner: QObject,
    change: Callable[[Session], T],
    on_done: Callable[[T], None] | None = None,
    on_failed: Callable[[BaseException], None] | None = None,
) -> None:
    """Run ``change(session)`` in one write transaction on the database thread.

    ``on_done(result)`` or ``on_failed(error)`` follow on the GUI thread, unless ``owner`` was
    deleted meanwhile (a dialog closed while its change was written).
    """
    db = context.db

    def write() -> T:
        with db.write() as session:
            return change(session)

    context.tasks.run(write, alive(owner, on_done), alive(owner, on_failed))


def alive(owner: QObject, slot: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """``slot``, called only while ``owner``'s widget still exists."""
    if slot is None:
        return None
    checked = slot

    def guarded(value: Any) -> None:
        if shiboken6.isValid(owner):
            checked(value)

    return guarded


class Latest:
    """Tells an answer for the query shown now from one that a newer query replaced.

    :meth:`renew` when the query changes; :meth:`guard` each callback of a read when it starts.
    A guarded callback does nothing once a newer query began or ``owner`` was deleted.
    """

    def __init__(self, owner: QObject) -> None:
        self._owner = owner
        self._generation = 0

    def renew(self) -> None:
        """A new query: answers to every earlier one are dropped from now on."""
        self._generation += 1

    def guard(
        self, slot: Callable[[T], None], *, otherwise: Callable[[T], None] | None = None
    ) -> Callable[[T], None]:
        """``slot``, called only while the query current now is still the latest.

        Args:
            otherwise: called with a dropped answer instead (to release what it holds).
        """
        generation = self._generation

        def guarded(value: T) -> None:
            if generation == self._generation and shiboken6.isValid(self._owner):
                slot(value)
            elif otherwise is not None:
                otherwise(value)

        return guarded


class LatestLoad:
    """A read a widget repeats (its list, its balance, its figures): each start supersedes the last.

    Reads run side by side on ``context.reads``, so an older answer can arrive after a newer one;
    it is dropped, never shown late. Answers reach ``owner`` only while it exists.
    """

    def __init__(self, context: AppContext, owner: QObject) -> None:
        self._reads = context.reads
        self._latest = Latest(owner)

    def start(
        self,
        query: Callable[[], T],
        on_done: Callable[[T], None],
        on_failed: Callable[[BaseException], None],
    ) -> None:
        """Run ``query`` in the background; ``on_done`` or ``on_failed`` if still the newest."""
        self._latest.renew()
        self._reads.run(query, self._latest.guard(on_done), self._latest.guard(on_failed))
