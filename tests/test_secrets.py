"""A key used through the whole flow never lands in a file, an exception text or stderr.

One random sentinel key goes through the keys dialog into the (in-memory) key store, then
through the metering client to a custom endpoint on a real emulator (a reply, then the ``@auth``
fault whose 401 body echoes the key), with every logger at DEBUG into a real log file, and into
an export; a subprocess loads it from the environment and crashes with it in its message. Then
the bytes of every file the test produced (the ledger and its WAL and shared memory, the log
files, the exports, the crashed process's data folder) and every exception text and captured
output are searched for it. Two sentinels: one shaped like an OpenAI project key, and one a
custom gateway might issue, which only the list of loaded keys can catch.
"""

from __future__ import annotations

import logging
import os
import random
import string
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core import conversations, keys, logs, redaction
from app.core.chats import Turn
from app.core.errors import AuthenticationFailed
from app.core.ledger import export
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.emulator import Emulator
from app.ui.context import AppContext
from app.ui.dialogs import KeysDialog
from app.ui.errors import describe
from tests.support.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parent.parent
WAIT_MS = 10_000

CRASH = """
import logging, sys, threading
from app import cli
from app.cli import ledger_commands
from app.core import keys

def crash(args, db):
    key = keys.get_key("openai")
    assert key is not None and key.source == "$OPENAI_API_KEY", key
    logging.getLogger("app.crash").debug("loaded %s; by mistake, the raw key %s", key, key.secret)

    def worker():
        raise RuntimeError(f"a worker thread saw {key.secret}")

    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    thread.join()
    raise RuntimeError(f"an unexpected failure quoting {key.secret}")

ledger_commands.list_balances = crash  # the command is looked up when it runs
sys.exit(cli.main(["list-balances"]))
"""


def sentinel(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(random.SystemRandom().choices(alphabet, k=40))


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Everything logs at DEBUG into a real log file, as with TALLYBOOK_LOG_LEVEL=DEBUG."""
    path = logs.configure(tmp_path / "data", "DEBUG")
    try:
        yield path
    finally:
        logs.reset()


@pytest.mark.parametrize("prefix", ["sk-proj-SENTINEL-", "gateway-SENTINEL-"])
def test_a_key_never_appears_in_files_exception_texts_or_output(
    prefix: str,
    qtbot: QtBot,
    db: Database,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    log_file: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = sentinel(prefix)
    needle = secret.encode()
    for variables in redaction.ENVIRONMENT_FALLBACK.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)
    seen: list[str] = []  # every text an exception or a screen showed

    with Emulator() as emulator:
        with db.write() as session:
            endpoint = registry.add_endpoint(session, "Sentinel gateway", emulator.url + "/v1")

        # 1. Entered in the keys dialog, as a user would, and tested from there.
        context = AppContext.create(db)
        dialog = KeysDialog(context)
        try:
            with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
                dialog.show()
            row = dialog.rows[endpoint.id]
            row.enter_button.click()
            qtbot.keyClicks(row.key_edit, secret)
            with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
                row.save_button.click()
            assert memory_keyring.secrets == {("Tallybook", endpoint.id): secret}
            row = dialog.rows[endpoint.id]
            with qtbot.waitSignal(dialog.key_tested, timeout=WAIT_MS):
                row.test_button.click()
            assert row.result.text().startswith("The key works"), row.result.text()
            seen += [row.state.text(), row.result.text(), dialog.message.text()]
        finally:
            dialog.close()
            context.close()

        # 2. Metered requests that carry it: a reply, and a 401 whose body echoes it.
        with db.write() as session:
            conversation = conversations.create_conversation(
                session, provider=endpoint.id, model="gpt-4o-mini"
            ).id
        client = MeteringClient(db)
        try:
            hello = (ChatMessage("user", "Hello, gateway"),)
            reply = client.send(
                ChatRequest(endpoint.id, "gpt-4o-mini", hello, hooks=Turn(conversation))
            )
            assert reply.status == "complete" and "Hello, gateway" in reply.text
            for stream in (True, False):
                with pytest.raises(AuthenticationFailed) as refused:
                    client.send(
                        ChatRequest(
                            endpoint.id, "gpt-4o-mini@auth", hello, hooks=Turn(conversation)
                        ),
                        stream=stream,
                    )
                error = refused.value
                assert redaction.MASK in str(error)  # the provider did echo the key it was sent
                seen += [
                    str(error),
                    repr(error),
                    repr(error.args),
                    describe(error),
                    "".join(traceback.format_exception(error)),
                ]
        finally:
            client.close()
        assert emulator.requests_served >= 4

    # 3. Code that logs a key by mistake, and an exception carrying it, at DEBUG.
    key = keys.get_key(endpoint.id)
    assert key is not None
    log = logging.getLogger("app.test_secrets")
    log.debug("the key object %s %r, and by mistake the raw key %s", key, key, key.secret)
    try:
        raise ValueError(f"a library quoting {key.secret}")
    except ValueError:
        log.exception("a failure with the key in its message")
    log.warning("a warning with %s", key.secret)  # also goes to stderr

    # 4. Exports of everything.
    exports = [tmp_path / "spend.csv", tmp_path / "spend.json"]
    with db.read() as session:
        for target in exports:
            assert export.export(session, target) > 0

    # 5. A process that loads the key from the environment and crashes quoting it.
    crash_home = tmp_path / "crashed"
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH],
        cwd=ROOT,
        capture_output=True,
        env={
            **os.environ,
            "OPENAI_API_KEY": secret,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "TALLYBOOK_HOME": str(crash_home),
            "TALLYBOOK_LOG_LEVEL": "DEBUG",
        },
        timeout=120,
        check=False,
    )
    crash_log = (crash_home / "logs" / "tallybook.log").read_text(encoding="utf-8")
    assert crashed.returncode == 1
    assert b"RuntimeError: an unexpected failure quoting [redacted]" in crashed.stderr
    assert b"RuntimeError: a worker thread saw [redacted]" in crashed.stderr
    assert "Uncaught exception in worker" in crash_log and "Uncaught exception\n" in crash_log
    assert "the raw key [redacted]" in crash_log

    # The log really holds DEBUG from the app and from httpx2's transport, scrubbed.
    ledger_files = sorted(db.path.parent.glob(db.path.name + "*"))
    assert {p.name for p in ledger_files} >= {"ledger.sqlite3", "ledger.sqlite3-wal"}
    snapshots = {p: p.read_bytes() for p in ledger_files}  # the WAL, before closing folds it
    text = log_file.read_text(encoding="utf-8")
    assert "the raw key [redacted]" in text and "a library quoting [redacted]" in text
    assert "HTTP Request: POST" in text and "send_request_headers" in text
    out, err = capfd.readouterr()
    assert "a warning with [redacted]" in err

    db.close()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {log_file, *exports, crash_home / "tallybook.sqlite3"} <= set(written)
    leaks = [str(p) for p in written if needle in p.read_bytes()]
    leaks += [f"{p} before closing" for p, data in snapshots.items() if needle in data]
    leaks += [f"shown: {t!r}" for t in seen if secret in t]
    leaks += [name for name, data in (("stdout", out), ("stderr", err)) if secret in data]
    leaks += [
        f"crashed {name}"
        for name, data in (("stdout", crashed.stdout), ("stderr", crashed.stderr))
        if needle in data
    ]
    assert leaks == [], err
