from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2
import keyring
import pytest
from keyring.backends import fail

from app.core.errors import AuthenticationFailed, MissingKey, ProviderError, ProviderUnreachable
from app.core.keys import store_problem as key_store_problem
from app.core.providers import registry
from app.core.providers.key_check import check_key
from app.core.providers.registry import Endpoint
from app.core.storage.db import Database
from app.servers.emulator import Emulator

SECRET = "sk-test-KEYCHECK-0123456789abcdefghij"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.mark.parametrize(
    ("api", "suffix"), [("compatible", "/v1"), ("anthropic", ""), ("gemini", "")]
)
def test_a_working_key_lists_models_for_each_protocol(
    db: Database, emulator: Emulator, api: str, suffix: str
) -> None:
    with db.write() as session:
        endpoint = registry.add_endpoint(session, f"Local {api}", emulator.url + suffix, api=api)
    answer = check_key(endpoint, SECRET)
    assert answer.startswith("The key works: ")
    assert answer.endswith("models available.")
    assert int(answer.split()[3]) > 0
    assert SECRET not in answer


def test_the_offline_demo_needs_no_key(emulator: Emulator) -> None:
    demo = next(e for e in registry.BUILTIN if e.id == registry.DEMO)
    answer = check_key(demo, None, base_url=emulator.url)
    assert answer.startswith("Offline demo answers: ")


def test_a_missing_key_is_refused_before_anything_is_sent() -> None:
    openai = next(e for e in registry.BUILTIN if e.id == "openai")
    with pytest.raises(MissingKey, match="no key for OpenAI"):
        check_key(openai, "  ")


def test_a_refused_call_is_authentication_failed(emulator: Emulator) -> None:
    # A server that needs no key by our settings, but the emulator wants one: a real 401.
    local = Endpoint("custom-x", "Local", "compatible", emulator.url + "/v1", needs_key=False)
    with pytest.raises(AuthenticationFailed) as caught:
        check_key(local, None)
    assert caught.value.status == 401
    assert "Local refused the API key (401)" in str(caught.value)


def test_a_key_echoed_by_the_provider_is_redacted() -> None:
    def echo(request: httpx2.Request) -> httpx2.Response:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        return httpx2.Response(
            401, json={"error": {"message": f"Incorrect API key provided: {sent}."}}
        )

    endpoint = Endpoint("custom-echo", "Echo", "compatible", "http://echo.invalid/v1")
    with (
        httpx2.Client(transport=httpx2.MockTransport(echo)) as client,
        pytest.raises(AuthenticationFailed) as caught,
    ):
        check_key(endpoint, SECRET, client=client)
    assert SECRET not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_a_page_that_is_not_a_model_list_is_not_reported_as_working() -> None:
    # A wrong base URL often lands on a web page that answers 200.
    def page(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, text="<html>Welcome</html>")

    endpoint = Endpoint("custom-page", "Page", "compatible", "http://page.invalid")
    with (
        httpx2.Client(transport=httpx2.MockTransport(page)) as client,
        pytest.raises(ProviderError, match="check the endpoint's base URL"),
    ):
        check_key(endpoint, SECRET, client=client)


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = Endpoint("custom-closed", "Closed", "compatible", f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderUnreachable, match="Cannot reach Closed"):
        check_key(endpoint, SECRET)


def test_a_missing_key_store_is_found_up_front() -> None:
    assert key_store_problem() is None  # the in-memory store of the tests
    keyring.set_keyring(fail.Keyring())
    problem = key_store_problem()
    assert problem is not None
    assert problem.startswith("No OS key store is available")
