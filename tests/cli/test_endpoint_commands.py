"""``tallybook endpoints``: the same endpoints the keys dialog shows, added by base URL."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.providers import registry
from app.core.storage.db import Database
from tests.cli.command import tallybook


def _endpoints(home: Path) -> dict[str, dict[str, object]]:
    listed = tallybook("endpoints", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    return {entry["id"]: entry for entry in json.loads(listed.stdout)}


def test_list_shows_every_built_in_endpoint(home: Path) -> None:
    listed = tallybook("endpoints", "list", home=home)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [e.id for e in registry.BUILTIN]
    assert any("https://api.openai.com/v1" in line for line in lines)
    assert "no key" in next(line for line in lines if line.startswith("ollama"))
    assert _endpoints(home)["anthropic"]["api"] == "anthropic"


def test_an_endpoint_added_here_is_the_one_the_app_uses(home: Path) -> None:
    added = tallybook(
        "endpoints", "add", "Work gateway", "--base-url", "api.example.com/v1/", home=home
    )
    assert added.returncode == 0, added.stderr
    assert "No scheme given: using https://api.example.com/v1" in added.stdout
    assert "tallybook keys set custom-work-gateway" in added.stdout
    local = tallybook(
        "endpoints",
        "add",
        "Llama box",
        "--base-url",
        "localhost:8080/v1",
        "--api",
        "openai",
        "--no-key",
        home=home,
    )
    assert local.returncode == 0, local.stderr
    assert "using http://localhost:8080/v1" in local.stdout
    proxy = tallybook(
        "endpoints",
        "add",
        "Claude proxy",
        "--base-url",
        "https://proxy.example.com",
        "--api",
        "anthropic",
        home=home,
    )
    assert "No scheme given" not in proxy.stdout

    listed = _endpoints(home)
    assert listed["custom-work-gateway"] == {
        "id": "custom-work-gateway",
        "name": "Work gateway",
        "api": "compatible",
        "base_url": "https://api.example.com/v1",
        "needs_key": True,
        "builtin": False,
    }
    assert listed["custom-llama-box"]["needs_key"] is False
    assert listed["custom-claude-proxy"]["api"] == "anthropic"
    # The window's store: the ledger's settings, read by the registry the dialog reads.
    db = Database(home / "tallybook.sqlite3")
    try:
        with db.read() as session:
            endpoint = registry.get_endpoint(session, "custom-llama-box")
    finally:
        db.close()
    assert (endpoint.base_url, endpoint.needs_key) == ("http://localhost:8080/v1", False)


def test_bad_input_is_one_clear_line_and_changes_nothing(home: Path) -> None:
    cases = [
        (("--base-url", "ftp://files.example.com"), "is not an http(s) URL"),
        (("--base-url", "https://user:secret@example.com/v1"), "user name or password"),
        (("--base-url", "example.com/v1?api_key=x"), "no ?query"),
        (("--base-url", "example.com:99999abc/v1"), "invalid port"),
    ]
    for arguments, reason in cases:
        refused = tallybook("endpoints", "add", "Broken", *arguments, home=home)
        assert refused.returncode == 1, refused
        assert reason in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "secret" not in refused.stderr
    missing = tallybook("endpoints", "add", "Broken", home=home)
    assert missing.returncode == 2
    assert "--base-url" in missing.stderr
    wrong_api = tallybook("endpoints", "add", "B", "--base-url", "x.io", "--api", "soap", home=home)
    assert wrong_api.returncode == 2
    assert "custom-broken" not in _endpoints(home)

    assert (
        tallybook("endpoints", "add", "Twin", "--base-url", "a.example", home=home).returncode == 0
    )
    twin = tallybook("endpoints", "add", "twin", "--base-url", "b.example", home=home)
    assert twin.returncode == 1
    assert "already exists" in twin.stderr


def test_remove_forgets_only_the_users_own(home: Path) -> None:
    assert (
        tallybook("endpoints", "add", "Mine", "--base-url", "a.example", home=home).returncode == 0
    )
    built_in = tallybook("endpoints", "remove", "openai", home=home)
    assert built_in.returncode == 1
    assert "OpenAI is built in and cannot be removed" in built_in.stderr
    unknown = tallybook("endpoints", "remove", "nope", home=home)
    assert unknown.returncode == 1
    assert "No provider or endpoint called 'nope'" in unknown.stderr
    assert "custom-mine" in unknown.stderr

    removed = tallybook("endpoints", "remove", "MINE", home=home)  # by name, any case
    assert removed.returncode == 0, removed.stderr
    assert "Removed Mine (custom-mine)" in removed.stdout
    assert set(_endpoints(home)) == {e.id for e in registry.BUILTIN}
