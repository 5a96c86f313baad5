"""The servers from a terminal: ``serve`` (the local metering endpoint, one line per charged
reply) and ``emulator`` (the local provider emulator).

``serve`` starts from the same settings as the app's Tools > Local endpoint (port, where
requests go), which the options override for this run only. Tool tokens made meanwhile (the
dialog, ``tallybook endpoint-tokens``) work at once, and revoked ones stop at once.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from app.cli import output
from app.core.errors import TallybookError
from app.core.metering.client import MeteringClient
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.gateway import (
    Gateway,
    TokenKeeping,
    Upstreams,
    access,
    access_token,
    renew_access_token,
    token_keeping,
    tokens,
)
from app.servers.gateway import config as endpoint_config
from app.servers.local_http import is_loopback

REMOTE_WARNING = (
    "WARNING: serving {host} beyond this machine. Anyone who can reach it and learns the access "
    "token spends your provider keys, and the traffic is plain HTTP (readable on the network)."
)


def serve(args: argparse.Namespace, db: Database) -> int:
    """``serve``: serve until Ctrl+C (or SIGTERM)."""
    if not is_loopback(args.host) and not args.allow_remote:
        raise TallybookError(
            f"{args.host} can be reached from other machines; add --allow-remote if you mean it."
        )
    with db.read() as session:
        saved = endpoint_config.load(session)
        known = {endpoint.id: endpoint.name for endpoint in registry.all_endpoints(session)}
        tools = [token.name for token in tokens.list_tokens(session) if token.active]
    upstreams = _upstreams(args, saved.upstreams, known)
    token = renew_access_token() if args.renew_token else access_token()
    client = MeteringClient(db)
    try:
        server = Gateway(
            db,
            client,
            token=token,
            upstreams=upstreams,
            host=args.host,
            port=saved.port if args.port is None else args.port,
            allow_remote=args.allow_remote,
            on_settled=output.print_settlement,
        )
        server.start()
    except OSError as error:
        client.close()
        raise TallybookError(f"Cannot listen on {args.host}: {error.strerror or error}.") from None
    if not is_loopback(args.host):
        print(REMOTE_WARNING.format(host=args.host), file=sys.stderr)
    _print_banner(server, upstreams, known, tools)
    signal.signal(signal.SIGTERM, lambda *_: server.stopping.set())  # stop as Ctrl+C does
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.stopping.wait()
    finally:
        server.stop()
        client.close()
    return 0


def run_emulator(args: argparse.Namespace) -> int:
    """``emulator``: serve the provider emulator until Ctrl+C (needs no ledger)."""
    from app.servers.emulator import Emulator

    server = Emulator(port=args.port, chunk_delay=args.chunk_delay)
    print(f"Emulator on {server.url} (OpenAI at /v1, Anthropic, Gemini); Ctrl+C stops.")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _upstreams(args: argparse.Namespace, saved: Upstreams, known: dict[str, str]) -> Upstreams:
    if args.demo:
        return Upstreams.demo()
    chosen = Upstreams(
        args.openai_endpoint or saved.openai, args.anthropic_endpoint or saved.anthropic
    )
    for endpoint_id in (chosen.openai, chosen.anthropic):
        if endpoint_id not in known:
            raise TallybookError(
                f"There is no endpoint {endpoint_id!r}; choose one of {', '.join(sorted(known))}."
            )
    return chosen


def _print_banner(
    server: Gateway, upstreams: Upstreams, known: dict[str, str], tools: list[str]
) -> None:
    url = server.url
    print(f"Tallybook local endpoint on {url}")
    print(
        f"  OpenAI Chat Completions and Responses -> {known[upstreams.openai]}; "
        f"Anthropic Messages -> {known[upstreams.anthropic]}"
    )
    print(f"  Access token (the API key tools pass): {server.token}")
    if token_keeping() is TokenKeeping.THIS_RUN:
        print(
            "  It lasts this run only (no OS key store): the next start makes another. Set "
            f"{access.VARIABLE} to keep one token across restarts."
        )
    if tools:
        print(f"  Tool tokens (`tallybook endpoint-tokens list`): {', '.join(tools)}")
    print("Point a tool at it, e.g.:")
    print(f"  export OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY={server.token}")
    print(f"  export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY={server.token}")
    print("Each charged reply is printed below; Ctrl+C stops.", flush=True)
