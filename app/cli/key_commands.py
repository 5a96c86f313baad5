"""``tallybook keys``: which endpoint has a key, and saving, removing and testing keys.

A key is read from a hidden prompt, or from stdin when stdin is not a terminal (``pass show
openai | tallybook keys set openai``), and never from the command line, where it would stay
in the shell's history and the process list. It goes to the OS key store only (as the keys
dialog's do); what is printed of it is its last four characters.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from app.cli.endpoint_commands import find_endpoint
from app.core import keys, redaction
from app.core.errors import InvalidSetting, MissingKey
from app.core.providers import registry
from app.core.providers.key_check import check_key
from app.core.providers.key_sources import KeyStatus, key_statuses, secret_to_test
from app.core.providers.registry import Endpoint
from app.core.storage.db import Database


def list_keys(args: argparse.Namespace, db: Database) -> int:
    """``keys list``: where each endpoint's key comes from (never the key itself)."""
    statuses = key_statuses(_endpoints(db))
    problem = keys.store_problem()
    if args.json:
        print(json.dumps({"key_store": problem is None, "keys": [_as_json(s) for s in statuses]}))
        return 0
    width = max(len(s.endpoint.id) for s in statuses)
    for status in statuses:
        print(f"{status.endpoint.id:<{width}}  {status.text}")
    if problem is not None:
        print(f"\n{problem}")
    return 0


def save_key(args: argparse.Namespace, db: Database) -> int:
    """``keys set PROVIDER``: read the key without showing it, save it in the key store."""
    if args.key_on_command_line is not None:  # never echoed: it is the key
        raise InvalidSetting(
            "A key is never taken from the command line (it would stay in the shell's history)."
            f" Run `tallybook keys set {args.provider}` and paste it at the prompt, or pipe it"
            " on stdin."
        )
    endpoint = _keyed_endpoint(db, args.provider)
    problem = keys.store_problem()
    if problem is not None:
        variables = _variables(endpoint)
        hint = f" For {endpoint.name}, set {variables}." if variables else ""
        raise keys.KeyStoreUnavailable(problem + hint)
    secret = _read_secret(endpoint)
    keys.set_key(endpoint.id, secret)
    print(f"Saved the {endpoint.name} key in the key store ({keys.mask(secret)}).")
    print(f"Check it with: tallybook keys test {endpoint.id}")
    return 0


def remove_key(args: argparse.Namespace, db: Database) -> int:
    """``keys remove PROVIDER``: the key store's copy; an environment variable is not ours."""
    endpoint = _keyed_endpoint(db, args.provider)
    before = key_statuses([endpoint])[0]
    if not before.saved:
        print(f"There is no saved {endpoint.name} key to remove.")
    else:
        keys.delete_key(endpoint.id)
        print(f"Removed the {endpoint.name} key ({before.tail}) from the key store.")
    after = key_statuses([endpoint])[0]
    if after.source is not None:
        print(f"{endpoint.name} still gets a key from {after.source} {after.tail}.")
    return 0


def try_key(args: argparse.Namespace, db: Database) -> int:
    """``keys test PROVIDER``: list the provider's models with its key (costs nothing)."""
    endpoint = find_endpoint(_endpoints(db), args.provider)
    secret = secret_to_test(endpoint)
    if secret is None and KeyStatus(endpoint, None).needs_key:
        variables = _variables(endpoint)
        raise MissingKey(
            f"There is no key for {endpoint.name} to test: save one with `tallybook keys set"
            f" {endpoint.id}`" + (f", or set {variables}." if variables else ".")
        )
    print(check_key(endpoint, secret))
    return 0


def _endpoints(db: Database) -> list[Endpoint]:
    with db.read() as session:
        return registry.all_endpoints(session)


def _keyed_endpoint(db: Database, name: str) -> Endpoint:
    """The endpoint called ``name``, which must be one that takes a key."""
    endpoint = find_endpoint(_endpoints(db), name)
    if not KeyStatus(endpoint, None).needs_key:
        raise InvalidSetting(f"{endpoint.name} needs no key.")
    return endpoint


def _read_secret(endpoint: Endpoint) -> str:
    """The key from a hidden prompt, or stdin's one line when it is not a terminal."""
    if sys.stdin.isatty():
        secret = getpass.getpass(f"{endpoint.name} API key (typing is hidden): ")
    else:
        secret = sys.stdin.read()
    secret = secret.strip()
    redaction.remember(secret)  # from here on, any text quoting it is scrubbed
    if not secret:
        raise InvalidSetting("No key was given; nothing was saved.")
    if any(c.isspace() or not c.isprintable() for c in secret):
        raise InvalidSetting(
            "A key is one line without spaces; what was given is not, so nothing was saved."
        )
    return secret


def _variables(endpoint: Endpoint) -> str:
    """The environment variables a key for ``endpoint`` can come from ("" if none)."""
    return " or ".join(f"${v}" for v in redaction.ENVIRONMENT_FALLBACK.get(endpoint.id, ()))


def _as_json(status: KeyStatus) -> dict[str, object]:
    return {
        "id": status.endpoint.id,
        "name": status.endpoint.name,
        "needs_key": status.needs_key,
        "source": status.source,
        "tail": status.tail or None,
        "status": status.text,
    }
