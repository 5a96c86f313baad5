"""``tallybook serve`` end to end: a subprocess serving the offline demo, the openai SDK calling it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.cli.command import ROOT, tallybook

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
