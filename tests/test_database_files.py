"""Ledger files the app cannot use as they are: read-only, damaged. Clear words, no loss.

Read-only is made real: the file or its folder loses its write bits. Root ignores those, so when
the tests run as root the ``tallybook`` process is started without the capabilities that let
root override file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, dropped from
its bounding set): it is then refused exactly as a normal user is, and SQLite itself reports
"attempt to write a readonly database".
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.core.errors import DatabaseCorrupt, DatabaseError, DatabaseLocked
from app.core.ledger import entries
from app.core.storage import rescue
from app.core.storage.db import Database, translate_errors

ROOT = Path(__file__).resolve().parent.parent
PR_CAPBSET_DROP = 24
ROOT_OVERRIDES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
READ_ONLY = "is read-only; nothing was changed"


def _drop_root_overrides() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in ROOT_OVERRIDES:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


@pytest.fixture
def as_a_user() -> Callable[[], None] | None:
    """What to run before ``exec`` so file permissions bind (``None``: they already do)."""
    if os.geteuid() != 0:
        return None
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root, and root's file capabilities can be dropped only on Linux")
    try:
        subprocess.run([sys.executable, "-c", ""], preexec_fn=_drop_root_overrides, check=True)
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"running as root and cannot drop root's file capabilities: {error}")
    return _drop_root_overrides


def tallybook(
    *args: str, home: Path, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TALLYBOOK_HOME": str(home)},
        preexec_fn=preexec,
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A data folder with a ledger holding 100 credits (permissions restored afterwards)."""
    folder = tmp_path / "data"
    assert tallybook("add-balance", "100", home=folder).returncode == 0
    try:
        yield folder
    finally:
        for path in (folder, *folder.rglob("*")):
            path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR * path.is_dir())


def files_of(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in home.glob("tallybook.sqlite3*")}


def credits(home: Path) -> str:
    result = tallybook("list-balances", "--json", home=home)
    assert result.returncode == 0, result.stderr
    value: str = json.loads(result.stdout)["credits"]
    return value


def test_a_read_only_ledger_file_is_one_clear_line_and_nothing_changes(
    home: Path, as_a_user: Callable[[], None] | None
) -> None:
    ledger_file = home / "tallybook.sqlite3"
    ledger_file.chmod(0o444)
    before = files_of(home)
    result = tallybook("add-balance", "5", home=home, preexec=as_a_user)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"tallybook: error: The ledger {ledger_file} {READ_ONLY}. "
        "Make the file, its folder and any tallybook.sqlite3-wal and tallybook.sqlite3-shm "
        "files beside it writable."
    ]
    assert files_of(home)["tallybook.sqlite3"] == before["tallybook.sqlite3"]
    # Reading still works; the balance is what it was.
    shown = tallybook("list-balances", "--json", home=home, preexec=as_a_user)
    assert shown.returncode == 0 and json.loads(shown.stdout)["credits"] == "100"


def test_a_read_only_folder_is_one_clear_line_and_nothing_changes(
    home: Path, as_a_user: Callable[[], None] | None
) -> None:
    before = files_of(home)
    home.chmod(0o555)
    result = tallybook("add-balance", "5", home=home, preexec=as_a_user)
    home.chmod(0o755)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and READ_ONLY in result.stderr
    assert files_of(home) == before
    assert credits(home) == "100"


def test_a_ledger_made_writable_again_takes_writes_or_says_what_is_still_read_only(
    home: Path, as_a_user: Callable[[], None] | None
) -> None:
    ledger_file = home / "tallybook.sqlite3"
    ledger_file.chmod(0o444)
    assert tallybook("list-balances", home=home, preexec=as_a_user).returncode == 0
    ledger_file.chmod(0o644)  # what the message asked for
    result = tallybook("add-balance", "5", home=home, preexec=as_a_user)
    assert result.returncode == 0 or "-shm" in result.stderr


def test_sqlites_read_only_error_becomes_the_read_only_message(db: Database) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(100))
    db.close()
    before = db.path.read_bytes()
    reader = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
    try:
        with pytest.raises(DatabaseError, match=READ_ONLY) as refused, translate_errors(db.path):
            reader.execute("UPDATE balance SET credits = 0")
    finally:
        reader.close()
    assert "attempt to write a readonly database" in str(refused.value.__cause__)
    assert not isinstance(refused.value, DatabaseLocked)
    assert db.path.read_bytes() == before


# --- a damaged ledger is kept aside, never deleted or overwritten -------------------------------

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)


def damaged_ledger(folder: Path) -> tuple[Path, bytes]:
    """A real ledger whose pages after the header were overwritten (a disk error, a bad copy)."""
    path = folder / "tallybook.sqlite3"
    db = Database(path)
    with db.write() as session:
        entries.add_credits(session, Decimal(1234))
    db.close()
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xab" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    return path, bytes(data)


def test_a_damaged_ledger_is_kept_aside_byte_for_byte(tmp_path: Path) -> None:
    path, original = damaged_ledger(tmp_path)
    wal = b"a write-ahead log that belongs to the damaged file"
    path.with_name(path.name + "-wal").write_bytes(wal)

    kept = rescue.keep_aside(path, now=NOW)

    assert kept == tmp_path / "tallybook.sqlite3.corrupt-20260131T120000Z"
    assert kept.read_bytes() == original
    assert kept.with_name(kept.name + "-wal").read_bytes() == wal  # still paired with its WAL
    assert not path.exists() and not path.with_name(path.name + "-wal").exists()


def test_keeping_aside_twice_in_one_second_replaces_nothing(tmp_path: Path) -> None:
    first, first_bytes = damaged_ledger(tmp_path)
    kept_first = rescue.keep_aside(first, now=NOW)
    second = tmp_path / "tallybook.sqlite3"
    second.write_bytes(b"another damaged file")
    kept_second = rescue.keep_aside(second, now=NOW)
    assert kept_second != kept_first
    assert kept_first.read_bytes() == first_bytes
    assert kept_second.read_bytes() == b"another damaged file"


def test_opening_a_damaged_ledger_keeps_it_and_starts_a_new_one(tmp_path: Path) -> None:
    path, original = damaged_ledger(tmp_path)
    opened = rescue.open_or_keep_aside(path, now=NOW)
    try:
        assert opened.kept is not None and opened.kept.read_bytes() == original
        notice = opened.notice()
        assert notice is not None and str(opened.kept) in notice and "new, empty ledger" in notice
        with opened.db.write() as session:  # the new ledger works
            entries.add_credits(session, Decimal(5))
            assert entries.current_balance(session) == Decimal(5)
    finally:
        opened.db.close()


def test_a_healthy_or_newer_ledger_is_never_moved(tmp_path: Path) -> None:
    path = tmp_path / "tallybook.sqlite3"
    opened = rescue.open_or_keep_aside(path)
    opened.db.close()
    assert opened.kept is None and opened.notice() is None
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="newer Tallybook"):
        rescue.open_or_keep_aside(path)
    assert path.read_bytes() == before
    assert list(tmp_path.glob("*corrupt*")) == []


def test_a_damaged_ledger_that_cannot_be_moved_is_left_and_reported(
    tmp_path: Path, as_a_user: Callable[[], None] | None
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path, original = damaged_ledger(folder)
    folder.chmod(0o555)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\n"
                "from pathlib import Path\n"
                "from app.core.storage import rescue\n"
                "from app.core.errors import DatabaseError\n"
                "try:\n"
                f"    rescue.keep_aside(Path({str(path)!r}))\n"
                "except DatabaseError as error:\n"
                "    sys.exit(str(error))\n",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            preexec_fn=as_a_user,
            timeout=60,
            check=False,
        )
    finally:
        folder.chmod(0o755)
    assert result.returncode == 1
    assert "could not be moved aside (Permission denied); it was left untouched" in result.stderr
    assert path.read_bytes() == original
    assert sorted(p.name for p in folder.iterdir()) == ["tallybook.sqlite3"]


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "tallybook.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
        other.execute("INSERT INTO notes VALUES ('mine')")
        other.commit()
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="another program's database") as refused:
        rescue.open_or_keep_aside(path)
    assert not isinstance(refused.value, DatabaseCorrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tallybook.sqlite3"]
    assert path.read_bytes() == before
