from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.ledger import demo_data, entries
from app.core.storage.db import Database
from app.core.storage.models import Transaction


@pytest.mark.parametrize("rows", [1, 2, 3, 2_000, 2_001])
def test_exactly_the_rows_asked_for_and_an_exact_balance(tmp_path: Path, rows: int) -> None:
    db = Database(tmp_path / f"{rows}.sqlite3")
    try:
        with db.write() as session:
            result = demo_data.fill(session, rows, 7)
        with db.read() as session:
            stored = session.scalar(select(func.count()).select_from(Transaction))
            assert entries.current_balance(session) == entries.ledger_sum(session)
            assert entries.current_balance(session) > 0
    finally:
        db.close()
    assert result.transactions == stored == rows
