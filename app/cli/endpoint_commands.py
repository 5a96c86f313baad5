"""``tallybook endpoints``: the places requests go, and the user's own added by base URL.

The same store the keys dialog's "Add endpoint" writes (the ledger's settings), so an endpoint
added here is in the window's model picker and the other way round.
"""

from __future__ import annotations

import argparse
import contextlib
import json

from app.core import keys
from app.core.errors import UnknownEndpoint
from app.core.providers import registry
from app.core.providers.registry import DEMO, Endpoint
from app.core.storage.db import Database
from app.core.types import EndpointApi

PROTOCOLS = {
    EndpointApi.OPENAI: "OpenAI",
    EndpointApi.COMPATIBLE: "OpenAI-compatible",
    EndpointApi.ANTHROPIC: "Anthropic Messages",
    EndpointApi.GEMINI: "Google Gemini",
    EndpointApi.DEMO: "every protocol, offline",
}


def list_endpoints(args: argparse.Namespace, db: Database) -> int:
    """``endpoints list``: built-in endpoints, then the user's own."""
    with db.read() as session:
        found = registry.all_endpoints(session)
    if args.json:
        print(json.dumps([_as_json(e) for e in found], indent=2))
        return 0
    width = max(len(e.id) for e in found)
    for endpoint in found:
        where = "built in, on this computer" if endpoint.api == DEMO else endpoint.base_url
        notes = [PROTOCOLS[endpoint.api]]
        if not endpoint.needs_key:
            notes.append("no key")
        if not endpoint.builtin:
            notes.append("yours")
        print(f"{endpoint.id:<{width}}  {endpoint.name} · {where} ({', '.join(notes)})")
    return 0


def add_endpoint(args: argparse.Namespace, db: Database) -> int:
    """``endpoints add NAME --base-url URL``: a URL without a scheme gets one, and says so;
    ``--api openai`` is OpenAI's Chat Completions, which is what ``compatible`` speaks."""
    url, completed = registry.complete_base_url(args.base_url)
    api = EndpointApi.COMPATIBLE if args.api == EndpointApi.OPENAI else args.api
    with db.write() as session:
        endpoint = registry.add_endpoint(
            session, args.name, url, api=api, needs_key=not args.no_key
        )
    if completed:
        print(f"No scheme given: using {endpoint.base_url}")
    print(f"Added {endpoint.name} ({PROTOCOLS[endpoint.api]}) as {endpoint.id}.")
    if endpoint.needs_key:
        print(f"Give it its key with: tallybook keys set {endpoint.id}")
    print(f"Chat with it: tallybook chat --provider {endpoint.id} --model MODEL 'Hello'")
    return 0


def remove_endpoint(args: argparse.Namespace, db: Database) -> int:
    """``endpoints remove NAME``: one of the user's endpoints, and its saved key."""
    with db.write() as session:
        endpoint = find_endpoint(registry.all_endpoints(session), args.name)
        if endpoint.builtin:
            raise UnknownEndpoint(
                f"{endpoint.name} is built in and cannot be removed; only endpoints you added can."
            )
        registry.remove_endpoint(session, endpoint.id)
    with contextlib.suppress(keys.KeyStoreUnavailable):
        keys.delete_key(endpoint.id)  # without a store, no key of it was ever saved
    print(f"Removed {endpoint.name} ({endpoint.id}); its past transactions stay in the ledger.")
    return 0


def find_endpoint(endpoints: list[Endpoint], name: str) -> Endpoint:
    """The endpoint a user means by ``name``: its id or its name (any case).

    Raises:
        UnknownEndpoint: none is called that; the message lists the ids there are.
    """
    wanted = name.strip().casefold()
    for endpoint in endpoints:
        if wanted in (endpoint.id.casefold(), endpoint.name.casefold()):
            return endpoint
    known = ", ".join(e.id for e in endpoints)
    raise UnknownEndpoint(
        f"No provider or endpoint called {name!r}; known: {known} (see tallybook endpoints list)."
    )


def _as_json(endpoint: Endpoint) -> dict[str, object]:
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "api": endpoint.api.value,
        "base_url": endpoint.base_url or None,
        "needs_key": endpoint.needs_key,
        "builtin": endpoint.builtin,
    }
