"""A base URL typed without its scheme is completed, and a server that cannot be reached is
described in a sentence, never by an exception's class name."""

from __future__ import annotations

import socket

import httpx2
import pytest

from app.core.errors import ProviderUnreachable
from app.core.providers import registry
from app.core.providers.http import transport_error
from app.core.storage.db import Database


@pytest.mark.parametrize(
    ("typed", "completed"),
    [
        ("api.example.com/v1", ("https://api.example.com/v1", True)),
        ("  localhost:8080/v1 ", ("http://localhost:8080/v1", True)),
        ("127.0.0.1:11434/v1", ("http://127.0.0.1:11434/v1", True)),
        ("[::1]:1234/v1", ("http://[::1]:1234/v1", True)),
        ("http://api.example.com/v1", ("http://api.example.com/v1", False)),
        ("ftp://files.example.com", ("ftp://files.example.com", False)),
        ("", ("", False)),
    ],
)
def test_a_missing_scheme_is_added(typed: str, completed: tuple[str, bool]) -> None:
    assert registry.complete_base_url(typed) == completed


def test_add_endpoint_completes_the_url_it_stores(db: Database) -> None:
    with db.write() as session:
        endpoint = registry.add_endpoint(session, "Gateway", "api.example.com/v1/")
    assert endpoint.base_url == "https://api.example.com/v1"


def _failure(url: str) -> ProviderUnreachable:
    try:
        httpx2.get(url, timeout=5)
    except httpx2.HTTPError as error:
        unreachable = transport_error(error, "Local server")
        assert isinstance(unreachable, ProviderUnreachable)
        return unreachable
    raise AssertionError(f"{url} answered")


def test_an_unreachable_server_is_described_in_words() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = str(_failure(f"http://127.0.0.1:{port}/v1/models"))
    assert closed == (
        f"Cannot reach Local server: nothing is listening at 127.0.0.1:{port} (is it running?)."
    )
    unknown = str(_failure("http://no-such-host.invalid/v1/models"))
    assert unknown.startswith("Cannot reach Local server: the name no-such-host.invalid")
    for text in (closed, unknown):
        assert "Error" not in text
