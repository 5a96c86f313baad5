"""``tallybook serve``: the local metering endpoint from a terminal, one line per charged reply.

It starts from the same settings as the app's Tools > Local endpoint (port, where requests go),
which the options override for this run only.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from typing import Any

from app.core import money
from app.core.errors import TallybookError
from app.core.metering.client import MeteringClient
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.gateway import Gateway, Settlement, Upstreams, access_token, renew_access_token
from app.servers.gateway import config as endpoint_config
from app.servers.local_http import is_loopback

REMOTE_WARNING = (
    "WARNING: serving {host} beyond this machine. Anyone who can reach it and learns the access "
    "token spends your provider keys, and the traffic is plain HTTP (readable on the network)."
)


def add_parser(commands: Any) -> None:
    """Register ``serve`` on the CLI's sub-parsers."""
    serve = commands.add_parser(
        "serve",
        help="run the local metering endpoint (OpenAI and Anthropic APIs) for other tools",
        description="Serve the OpenAI Chat Completions and Responses APIs and the Anthropic "
        "Messages API on 127.0.0.1. Each request is forwarded with your key from the key store "
        "and charged on the ledger under the calling tool's name. Tools pass the access token "
        "printed at start as their API key.",
    )
    serve.add_argument(
        "--port", type=_port, help="port (default: the app's setting, 8411; 0 picks a free one)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine)"
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other machines can reach (they need the token; plain HTTP)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="forward everything to the offline demo provider"
    )
    serve.add_argument("--openai-endpoint", metavar="ID", help="where OpenAI-style requests go")
    serve.add_argument("--anthropic-endpoint", metavar="ID", help="where Anthropic requests go")
    serve.add_argument("--renew-token", action="store_true", help="replace the access token first")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, db: Database) -> int:
    """Serve until Ctrl+C."""
    if not is_loopback(args.host) and not args.allow_remote:
        raise TallybookError(
            f"{args.host} can be reached from other machines; add --allow-remote if you mean it."
        )
    with db.read() as session:
        saved = endpoint_config.load(session)
        known = {endpoint.id: endpoint.name for endpoint in registry.all_endpoints(session)}
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
            on_settled=_print_settlement,
        )
        server.start()
    except OSError as error:
        client.close()
        raise TallybookError(f"Cannot listen on {args.host}: {error.strerror or error}.") from None
    if not is_loopback(args.host):
        print(REMOTE_WARNING.format(host=args.host), file=sys.stderr)
    _print_banner(server, upstreams, known)
    signal.signal(signal.SIGTERM, lambda *_: server.stopping.set())  # stop as Ctrl+C does
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.stopping.wait()
    finally:
        server.stop()
        client.close()
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


def _print_banner(server: Gateway, upstreams: Upstreams, known: dict[str, str]) -> None:
    url = server.url
    print(f"Tallybook local endpoint on {url}")
    print(
        f"  OpenAI Chat Completions and Responses -> {known[upstreams.openai]}; "
        f"Anthropic Messages -> {known[upstreams.anthropic]}"
    )
    print(f"  Access token (the API key tools pass): {server.token}")
    print("Point a tool at it, e.g.:")
    print(f"  export OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY={server.token}")
    print(f"  export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY={server.token}")
    print("Each charged reply is printed below; Ctrl+C stops.", flush=True)


def _print_settlement(done: Settlement) -> None:
    metered = done.metered
    usage = metered.usage
    flags = [] if metered.status == "complete" else [metered.status]
    if metered.estimated:
        flags.append("estimated")
    print(
        f"{done.source}: {usage.prompt_tokens + usage.cache_read_tokens:,} in, "
        f"{usage.completion_tokens:,} out, {money.format_usd(metered.cost)}"
        + (f" ({', '.join(flags)})" if flags else ""),
        file=sys.stderr,
        flush=True,
    )
    for alert in done.alerts:
        print(f"  alert: {alert.title}: {alert.message}", file=sys.stderr, flush=True)


def _port(text: str) -> int:
    """A port number; 0 picks a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return port
