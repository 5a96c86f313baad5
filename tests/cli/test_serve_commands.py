"""``tallybook serve`` end to end: a subprocess serving the offline demo, the openai SDK calling it;
and ``tallybook endpoint-tokens``, run in this process on the tests' in-memory key store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import keyring
import openai
import pytest
from keyring.backends import fail

from app import cli
from app.core import logs
from app.core.metering.client import MeteringClient
from app.core.paths import database_path
from app.core.storage.db import Database
from app.servers.gateway import Gateway, Settlement, Upstreams, access_token
from tests.cli.command import ROOT, tallybook

Run = Callable[..., tuple[int, str, str]]

TOKEN = "tb-local-test-token-for-the-cli-0123456789"


def _environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TALLYBOOK_HOME": str(home),
        "TALLYBOOK_LOCAL_TOKEN": TOKEN,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",  # never the user's store
    }


def _tallybook(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return tallybook(*args, home=home, env=_environment(home))


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """``tallybook serve --demo`` on a free port, the URL it serves and what it printed."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path),
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Tallybook local endpoint on http://127.0.0.1:"), first
    url = first.split(" on ", 1)[1].strip()
    banner = [first]
    while "Ctrl+C stops" not in banner[-1]:
        line = process.stdout.readline()
        assert line, "serve exited before it was ready"
        banner.append(line)
    try:
        yield process, url, "".join(banner)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_serve_meters_a_tool_and_stops_cleanly(
    tmp_path: Path, serving: tuple[subprocess.Popen[str], str, str]
) -> None:
    process, url, banner = serving
    with openai.OpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0) as sdk:
        reply = sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello from a script"}]
        )
    assert reply.usage is not None
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"OPENAI_API_KEY={TOKEN}" in banner
    assert "this run only" not in banner  # TALLYBOOK_LOCAL_TOKEN keeps it
    assert err.splitlines()[0].startswith(
        f"openai-python: {reply.usage.prompt_tokens} in, {reply.usage.completion_tokens} out, $"
    )
    report = json.loads(
        _tallybook("report", "--source", "openai-python", "--json", home=tmp_path).stdout
    )
    assert report["sources"] == ["openai-python"]
    assert report["total"]["input_tokens"] == reply.usage.prompt_tokens
    chat_only = json.loads(_tallybook("report", "--source", "chat", "--json", home=tmp_path).stdout)
    assert chat_only["rows"] == []


def test_serve_refuses_other_machines_unless_told(tmp_path: Path) -> None:
    refused = _tallybook("serve", "--host", "0.0.0.0", home=tmp_path)
    assert refused.returncode == 1
    assert "--allow-remote" in refused.stderr and "Traceback" not in refused.stderr
    bad_port = _tallybook("serve", "--port", "70000", home=tmp_path)
    assert bad_port.returncode == 2 and "65535" in bad_port.stderr


def test_serve_says_when_its_token_lasts_this_run_only(tmp_path: Path) -> None:
    environment = {k: v for k, v in _environment(tmp_path).items() if k != "TALLYBOOK_LOCAL_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    banner = [process.stdout.readline()]
    while "Ctrl+C stops" not in banner[-1] and banner[-1]:
        banner.append(process.stdout.readline())
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    text = "".join(banner)
    assert "It lasts this run only (no OS key store)" in text
    assert "Set TALLYBOOK_LOCAL_TOKEN to keep one token across restarts" in text


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """``tallybook ARGS`` in this process: (exit status, stdout, stderr)."""

    def command(*args: str) -> tuple[int, str, str]:
        try:
            status = cli.main(["--data-dir", str(home), *args])
        except SystemExit as exit_:
            status = int(exit_.code or 0)
        finally:
            logs.reset()
        out, err = capsys.readouterr()
        return status, out, err

    return command


@pytest.fixture
def endpoint(home: Path) -> Iterator[tuple[Gateway, list[Settlement]]]:
    """The endpoint on the ledger the commands use, as `tallybook serve` runs it."""
    db = Database(database_path(home))
    client = MeteringClient(db, retries=0)
    settled: list[Settlement] = []
    server = Gateway(
        db,
        client,
        token=access_token(),
        upstreams=Upstreams.demo(),
        port=0,
        on_settled=settled.append,
    )
    with server:
        yield server, settled
    client.close()
    db.close()


def _chat(server: Gateway, token: str) -> httpx2.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi from a tool"}]}
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "OpenAI/Python 3.1.0"}
    return httpx2.post(server.url + "/v1/chat/completions", json=body, headers=headers, timeout=60)


def test_endpoint_tokens_add_list_and_revoke(
    run: Run, endpoint: tuple[Gateway, list[Settlement]]
) -> None:
    server, settled = endpoint
    status, token, err = run("endpoint-tokens", "add", "nightly-report.py")
    assert status == 0 and "not shown again" in err
    token = token.strip()
    assert token.startswith("tb-tool-") and "\n" not in token  # alone on stdout, for $(...)
    answer = _chat(server, token)
    assert answer.status_code == 200, answer.text
    assert [done.source for done in settled] == ["nightly-report.py"]  # not openai-python

    status, table, _ = run("endpoint-tokens", "list")
    assert status == 0 and table.splitlines()[0].split() == [
        "Tool",
        "Id",
        "Created",
        "(UTC)",
        "State",
    ]
    assert "nightly-report.py" in table and "working" in table and token not in table
    status, listed, _ = run("endpoint-tokens", "list", "--json")
    [entry] = json.loads(listed)
    assert (entry["name"], entry["revoked"]) == ("nightly-report.py", None)

    assert run("endpoint-tokens", "add", "Nightly-Report.py")[0] == 1  # one working token a name
    status, out, _ = run("endpoint-tokens", "revoke", "nightly-report.py")
    assert status == 0 and "Revoked the token for 'nightly-report.py'" in out
    refused = _chat(server, token)
    assert refused.status_code == 401 and "was revoked on" in refused.text
    assert "No tool tokens" in run("endpoint-tokens", "list")[1]
    assert "revoked 20" in run("endpoint-tokens", "list", "--all")[1]
    status, _, err = run("endpoint-tokens", "revoke", "nightly-report.py")
    assert status == 1 and "no working tool token" in err


def test_endpoint_tokens_need_a_key_store(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "get_keyring", fail.Keyring)
    status, out, err = run("endpoint-tokens", "add", "zed")
    assert (status, out) == (1, "")
    assert "kept only in the OS key store" in err and "TALLYBOOK_LOCAL_TOKEN" in err
    assert "No tool tokens" in run("endpoint-tokens", "list")[1]
