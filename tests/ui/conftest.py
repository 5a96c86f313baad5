"""What the widget tests share: the app's services on the test's ledger file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.storage.db import Database
from app.ui.context import AppContext


@pytest.fixture
def context(db: Database) -> Iterator[AppContext]:
    """The app's shared services; closed last, so no worker thread outlives the test."""
    shared = AppContext.create(db)
    try:
        yield shared
    finally:
        shared.close()
