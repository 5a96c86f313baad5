"""Test-wide setup: Qt offscreen, an in-memory key store, and a fresh ledger file per test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt
os.environ.setdefault("TALLYBOOK_DEMO_PACE", "0")  # the offline demo streams at full speed

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from app.core.storage.db import Database
from app.servers.emulator.demo import OfflineDemo
from tests.support.memory_keyring import MemoryKeyring


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets an empty in-memory key store; the real one is never touched."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True, scope="session")
def offline_demo() -> Iterator[OfflineDemo]:
    """The "Offline demo" endpoint's server, as the app and the CLI own one (started on first
    use, stopped when the tests end)."""
    with OfflineDemo() as demo:
        yield demo


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TALLYBOOK_HOME points into the test's own folder, so no test sees the user's ledger."""
    home = tmp_path / "home"
    monkeypatch.setenv("TALLYBOOK_HOME", str(home))
    return home


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A new ledger file, migrated to the newest schema."""
    database = Database(tmp_path / "ledger.sqlite3")
    try:
        yield database
    finally:
        database.close()
