"""``tallybook endpoint-tokens list|add|revoke``: the Local endpoint dialog's tool tokens.

``add`` prints the new token once, alone on stdout (``TOKEN=$(tallybook endpoint-tokens add
zed)`` keeps it out of the terminal's scrollback), with what to do with it on stderr; it is not
shown again anywhere, only revoked.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.core.storage.db import Database
from app.servers.gateway import tokens
from app.servers.gateway.tokens import ToolToken

COLUMNS = ("Tool", "Id", "Created (UTC)", "State")


def list_tokens(args: argparse.Namespace, db: Database) -> int:
    """``endpoint-tokens list``: every tool token, working or revoked (never a secret)."""
    with db.read() as session:
        made = tokens.list_tokens(session)
    if not args.all:
        made = [token for token in made if token.active]
    if args.json:
        print(json.dumps([tokens.to_json(token) for token in made], indent=2))
    elif not made:
        print("No tool tokens. Make one with `tallybook endpoint-tokens add NAME`.")
    else:
        print(token_table(made))
    return 0


def add_token(args: argparse.Namespace, db: Database) -> int:
    """``endpoint-tokens add NAME``: a token for one tool, printed this once."""
    with db.write() as session:
        issued = tokens.issue(session, args.name)
    print(
        f"Tool token for {issued.token.name!r} (copy it now; it is not shown again). Requests "
        "with it are filed under that name.",
        file=sys.stderr,
    )
    print(issued.secret, flush=True)
    return 0


def revoke_token(args: argparse.Namespace, db: Database) -> int:
    """``endpoint-tokens revoke NAME``: the tool's next request is refused."""
    with db.write() as session:
        revoked = tokens.revoke(session, args.name)
    print(f"Revoked the token for {revoked.name!r}; its next request gets 401.")
    return 0


def token_table(made: list[ToolToken]) -> str:
    """The tokens as aligned text columns, one a line."""
    rows = [
        (
            token.name,
            token.id,
            f"{token.created:%Y-%m-%d %H:%M}",
            "working" if token.revoked is None else f"revoked {token.revoked:%Y-%m-%d %H:%M}",
        )
        for token in made
    ]
    widths = [max(len(row[i]) for row in (COLUMNS, *rows)) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in (COLUMNS, *rows)
    )
