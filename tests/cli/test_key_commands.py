"""``tallybook keys``: keys saved from a prompt or stdin (never the command line), listed by
source, removed and tested against a real server, and never shown anywhere.

The commands run in this process (``cli.main``), on the tests' in-memory key store, except the
hidden prompt, which runs ``tallybook`` in a child process on a pseudo-terminal.
"""

from __future__ import annotations

import io
import json
import os
import pty
import random
import select
import string
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from app import cli
from app.core import keys, logs, redaction
from app.core.providers import registry
from app.core.storage.db import Database
from tests.cli.command import ROOT
from tests.support.memory_keyring import MemoryKeyring

Run = Callable[..., tuple[int, str, str]]


def sentinel() -> str:
    alphabet = string.ascii_letters + string.digits
    return "gateway-SENTINEL-" + "".join(random.SystemRandom().choices(alphabet, k=32))


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variables in redaction.ENVIRONMENT_FALLBACK.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def run(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Run]:
    """``tallybook ARGS`` with ``stdin``, in this process: (exit status, stdout, stderr)."""

    def command(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))  # not a terminal
        try:
            status = cli.main(["--data-dir", str(home), *args])
        except SystemExit as exit_:
            status = int(exit_.code or 0)
        finally:
            logs.reset()
        out, err = capsys.readouterr()
        return status, out, err

    yield command


class ModelsServer:
    """A real server on 127.0.0.1 answering ``GET /v1/models`` as OpenAI does: the list for
    the one key it accepts, a 401 that echoes any other key back (as OpenAI's does)."""

    def __init__(self, accepted: str) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if self.path == "/v1/models" and sent == accepted:
                    status, body = 200, {"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}
                else:
                    message = f"Incorrect API key provided: {sent}."
                    status, body = 401, {"error": {"message": message}}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                server.served += 1

            def log_message(self, *args: object) -> None:
                pass

        self.served = 0
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}/v1"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> ModelsServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def _add_endpoint(home: Path, name: str, url: str) -> str:
    db = Database(home / "tallybook.sqlite3")
    try:
        with db.write() as session:
            return registry.add_endpoint(session, name, url).id
    finally:
        db.close()


def test_a_key_piped_on_stdin_is_saved_tested_listed_and_never_shown(
    run: Run, home: Path, memory_keyring: MemoryKeyring
) -> None:
    secret = sentinel()
    with ModelsServer(accepted=secret) as server:
        endpoint_id = _add_endpoint(home, "Sentinel gateway", server.url)
        outputs: list[str] = []

        status, out, err = run("keys", "set", endpoint_id, stdin=secret + "\n")
        outputs += [out, err]
        assert status == 0, err
        assert memory_keyring.secrets == {("Tallybook", endpoint_id): secret}
        assert f"Saved the Sentinel gateway key in the key store (…{secret[-4:]})" in out

        status, out, err = run("keys", "test", endpoint_id)
        outputs += [out, err]
        assert (status, out.strip()) == (0, "The key works: 2 models available."), err

        status, out, err = run("keys", "list")
        outputs += [out, err]
        line = next(line for line in out.splitlines() if line.startswith(endpoint_id))
        assert line.split(maxsplit=1)[1] == f"Saved in the key store …{secret[-4:]}"
        assert next(x for x in out.splitlines() if x.startswith("openai")).endswith("No key")
        status, out, err = run("keys", "list", "--json")
        outputs += [out, err]
        listed = {entry["id"]: entry for entry in json.loads(out)["keys"]}
        assert listed[endpoint_id]["source"] == "keyring"
        assert listed["ollama"]["needs_key"] is False

        # A wrong key: the server refuses it and echoes it back; the sentence hides it.
        memory_keyring.secrets[("Tallybook", endpoint_id)] = wrong = sentinel()
        keys.get_key(endpoint_id)  # loaded, as a send would
        status, out, err = run("keys", "test", endpoint_id)
        outputs += [out, err]
        assert status == 1
        assert err.startswith("tallybook: error: Sentinel gateway refused the API key (401)")
        assert wrong not in err and redaction.MASK in err
        assert server.served == 2

    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "tallybook.log" for p in files)
    assert any(p.name == "tallybook.sqlite3" for p in files)
    leaks = [str(p) for p in files if secret.encode() in p.read_bytes()]
    leaks += [text for text in outputs if secret in text]
    assert leaks == []


def test_a_key_is_never_taken_from_the_command_line(
    run: Run, memory_keyring: MemoryKeyring
) -> None:
    secret = sentinel()
    status, out, err = run("keys", "set", "openai", secret)
    assert status == 1
    assert "never taken from the command line" in err
    assert secret not in out + err
    assert memory_keyring.secrets == {}


def test_empty_or_multi_line_input_saves_nothing(run: Run, memory_keyring: MemoryKeyring) -> None:
    for given, reason in (("\n", "No key was given"), ("one\ntwo\n", "one line")):
        status, _out, err = run("keys", "set", "anthropic", stdin=given)
        assert status == 1
        assert reason in err
        assert len(err.strip().splitlines()) == 1
    assert memory_keyring.secrets == {}


def test_remove_takes_the_saved_key_and_says_what_is_left(
    run: Run, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys.set_key("groq", "gsk_saved0123456789abcdefghij")
    monkeypatch.setenv("GROQ_API_KEY", "gsk_fromenv0123456789abcdefgh")
    status, out, err = run("keys", "remove", "groq")
    assert status == 0, err
    assert "Removed the Groq key (…ghij) from the key store." in out
    assert "Groq still gets a key from $GROQ_API_KEY …efgh." in out
    assert memory_keyring.secrets == {}
    status, out, _ = run("keys", "remove", "groq")
    assert (status, out.splitlines()[0]) == (0, "There is no saved Groq key to remove.")


def test_mistakes_are_sentences(run: Run) -> None:
    status, _, err = run("keys", "test", "mistral")
    assert status == 1
    assert err.strip() == (
        "tallybook: error: There is no key for Mistral to test: save one with "
        "`tallybook keys set mistral`, or set $MISTRAL_API_KEY."
    )
    status, _, err = run("keys", "set", "demo")
    assert (status, err.strip()) == (1, "tallybook: error: Offline demo needs no key.")
    status, _, err = run("keys", "set", "nope", stdin="x")
    assert status == 1 and "No provider or endpoint called 'nope'" in err


def test_an_unreachable_server_is_a_sentence_not_an_exception_name(run: Run, home: Path) -> None:
    with ModelsServer(accepted="") as server:
        url = server.url  # stopped again: nothing listens there any more
    endpoint_id = _add_endpoint(home, "Gone", url)
    keys.set_key(endpoint_id, "gateway-key-0123456789")
    status, _, err = run("keys", "test", endpoint_id)
    assert status == 1
    port = url.split(":")[2].split("/")[0]
    assert err.strip() == (
        f"tallybook: error: Cannot reach Gone: nothing is listening at 127.0.0.1:{port}"
        " (is it running?)."
    )
    assert "Error" not in err


def test_without_a_key_store_it_says_where_keys_can_come_from(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(fail.Keyring())
    status, _, err = run("keys", "set", "openai", stdin="sk-test-never-0123456789abcdef")
    assert status == 1
    assert "No OS key store is available" in err
    assert "For OpenAI, set $OPENAI_API_KEY." in err
    assert "sk-test-never" not in err
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fromenv-0123456789abcdef")
    status, out, _ = run("keys", "list")
    assert status == 0
    assert "From $OPENAI_API_KEY …cdef" in out
    assert out.strip().splitlines()[-1].startswith("No OS key store is available")


CHILD = """
import sys
import keyring
from app import cli
from tests.support.memory_keyring import MemoryKeyring

store = MemoryKeyring()
keyring.set_keyring(store)
status = cli.main(["keys", "set", "openai"])
print("STORED" if store.secrets.get(("Tallybook", "openai")) == sys.argv[1][::-1] else "LOST")
sys.exit(status)
"""


def test_a_key_typed_at_the_prompt_is_hidden(tmp_path: Path) -> None:
    secret = sentinel()
    home = tmp_path / "child"
    primary, secondary = pty.openpty()
    child = subprocess.Popen(
        # The child is told the key reversed, so finding it on the terminal means it leaked.
        [sys.executable, "-c", CHILD, secret[::-1]],
        cwd=ROOT,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "TALLYBOOK_HOME": str(home)},
        start_new_session=True,
    )
    os.close(secondary)
    shown = b""
    try:
        shown += _read_until(primary, b"(typing is hidden): ")
        os.write(primary, secret.encode() + b"\n")
        shown += _read_until(primary, b"STORED", b"LOST")
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        os.close(primary)
    text = shown.decode(errors="replace")
    assert "OpenAI API key (typing is hidden): " in text
    assert "Saved the OpenAI key in the key store" in text and "STORED" in text
    assert secret not in text  # the terminal did not echo it, nor did anything print it
    leaks = [p for p in home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []


def _read_until(fd: int, *endings: bytes) -> bytes:
    """What the terminal shows until one of ``endings`` (a minute at most)."""
    seen = b""
    while not any(ending in seen for ending in endings):
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no output; so far: {seen!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        seen += chunk
    return seen
