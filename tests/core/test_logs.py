"""The log file: where it is, its level, and that no secret passes through it or a crash."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import keys, logs

ROOT = Path(__file__).resolve().parents[2]
OPAQUE = "opaque-gateway-secret-0123456789"  # not shaped like any provider's key


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Path]:
    path = logs.configure(tmp_path, "DEBUG")
    try:
        yield path
    finally:
        logs.reset()


def test_a_loaded_key_is_masked_in_every_part_of_a_record(
    configured: Path, memory_keyring: object
) -> None:
    keys.set_key("custom-gateway", OPAQUE)
    log = logging.getLogger("app.test")
    log.debug("message %s and %r", OPAQUE, {"key": OPAQUE})
    try:
        raise RuntimeError(f"failed with {OPAQUE}")
    except RuntimeError:
        log.exception("while sending with sk-%s", "a" * 30)
    log.info("the stack", stack_info=True, extra={"note": OPAQUE})
    log.info("a broken format %d", OPAQUE)  # a bad call must not print its arguments raw

    text = configured.read_text(encoding="utf-8")
    assert OPAQUE not in text and "sk-aaaa" not in text
    assert "message [redacted] and {'key': '[redacted]'}" in text
    assert "RuntimeError: failed with [redacted]" in text
    assert "while sending with [redacted]" in text
    assert "a broken format" in text  # kept, not dropped


def test_the_level_comes_from_the_environment_and_sqlalchemy_stays_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(logs.LEVEL_ENV, "debug")
    try:
        logs.configure(tmp_path)
        assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
        assert logging.getLogger("httpx2").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
        monkeypatch.setenv(logs.LEVEL_ENV, "chatty")  # not a level: the default
        logs.configure(tmp_path)
        assert logging.getLogger().getEffectiveLevel() == logging.INFO
        logs.configure(tmp_path, "WARNING")  # an explicit level wins
        assert logging.getLogger().getEffectiveLevel() == logging.WARNING
    finally:
        logs.reset()


def test_configure_replaces_itself_and_reset_restores_everything(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level, sys.excepthook, threading.excepthook)
    logs.configure(tmp_path / "a")
    logs.configure(tmp_path / "b")
    try:
        ours = [h for h in root.handlers if h not in before[0]]
        assert len(ours) == 2  # one file, one stderr: not four
        assert sys.excepthook is not before[2]
    finally:
        logs.reset()
    after = (list(root.handlers), root.level, sys.excepthook, threading.excepthook)
    assert after == before


def test_an_unwritable_folder_leaves_logging_on_stderr_and_the_app_running(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")  # fails even as root
    try:
        path = logs.configure(blocker)
        logging.getLogger("app.test").warning("still here")
    finally:
        logs.reset()
    assert path == blocker / "logs" / "tallybook.log"
    assert not path.exists()


def run_python(code: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TALLYBOOK_HOME": str(home), **env},
        timeout=60,
        check=False,
    )


def test_an_uncaught_app_error_is_one_line_and_a_bug_is_a_full_redacted_traceback(
    tmp_path: Path,
) -> None:
    known = run_python(
        "from pathlib import Path\n"
        "from app.core import logs, redaction\n"
        "from app.core.errors import TallybookError\n"
        f"logs.configure(Path({str(tmp_path)!r}))\n"
        f"redaction.remember({OPAQUE!r})\n"
        f"raise TallybookError('The gateway refused {OPAQUE}.')\n",
        tmp_path,
    )
    assert known.returncode == 1
    assert known.stderr.splitlines() == ["tallybook: error: The gateway refused [redacted]."]
    logged = (tmp_path / "logs" / "tallybook.log").read_text(encoding="utf-8")
    assert "Traceback" in logged and "TallybookError: The gateway refused [redacted]." in logged

    bug = run_python(
        "from pathlib import Path\n"
        "from app.core import logs, redaction\n"
        f"logs.configure(Path({str(tmp_path)!r}))\n"
        f"redaction.remember({OPAQUE!r})\n"
        f"raise KeyError({OPAQUE!r})\n",
        tmp_path,
    )
    assert bug.returncode == 1
    assert bug.stderr.startswith("Traceback (most recent call last):")
    assert bug.stderr.rstrip().endswith("KeyError: '[redacted]'")
    assert OPAQUE not in bug.stderr + (tmp_path / "logs" / "tallybook.log").read_text()


def test_every_command_logs_to_the_data_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "add-balance", "5"],
        capture_output=True,
        text=True,
        env={**os.environ, "TALLYBOOK_HOME": str(tmp_path), logs.LEVEL_ENV: "INFO"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert "Running upgrade" in (tmp_path / "logs" / "tallybook.log").read_text()
