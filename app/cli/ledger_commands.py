"""The ledger's commands: the balance and its rules, reports, exports, synthetic history."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal

from app.cli import output
from app.core import money
from app.core.ledger import balance, demo_data, entries, export, reports
from app.core.ledger.selection import Selection
from app.core.storage.db import Database
from app.core.types import GroupBy


def add_balance(args: argparse.Namespace, db: Database) -> int:
    """``add-balance``: a top-up."""
    amount = _amount_of(args)
    assert amount is not None  # the parser requires AMOUNT or --usd
    with db.write() as session:
        entries.add_credits(session, amount, context="top-up")
        credits = entries.current_balance(session)
    print(f"Balance: {money.format_credits(credits)} credits ({money.format_usd(credits)})")
    return 0


def set_balance(args: argparse.Namespace, db: Database) -> int:
    """``set-balance``: the balance and its rules, each only if given."""
    amount = _amount_of(args)
    auto_refill = None
    if args.auto_refill is not None:
        auto_refill = True
    elif args.no_auto_refill:
        auto_refill = False
    with db.write() as session:
        if amount is not None:
            balance.set_balance(session, amount)
        view = balance.configure(
            session,
            enabled=args.enabled,
            start_balance=args.start_balance,
            auto_refill_enabled=auto_refill,
            refill_amount=args.auto_refill,
            refill_interval_value=args.every,
            refill_interval_unit=args.unit,
        )
    output.print_balance(view)
    return 0


def list_balances(args: argparse.Namespace, db: Database) -> int:
    """``list-balances``."""
    with db.read() as session:
        view = balance.get_balance(session)
    if args.json:
        print(json.dumps(output.balance_json(view), indent=2))
    else:
        output.print_balance(view)
    return 0


def show_report(args: argparse.Namespace, db: Database) -> int:
    """``report``: spend grouped by day, week, month, model, conversation or billed unit."""
    with db.read() as session:
        selection = Selection(
            since=args.since, until=args.until, sources=frozenset(args.source or ())
        )
        result = reports.build_report(session, GroupBy(args.by), selection)
    if args.json:
        print(json.dumps(output.report_json(result), indent=2))
    else:
        print(output.report_table(result))
    return 0


def export_transactions(args: argparse.Namespace, db: Database) -> int:
    """``export``: the selected transactions to a file; the count goes to stderr."""
    selection = Selection(
        since=args.since,
        until=args.until,
        providers=frozenset(args.provider or ()),
        models=frozenset(args.model or ()),
        conversation_id=args.conversation,
        token_types=frozenset(args.token_type or ()),
        sources=frozenset(args.source or ()),
    )
    fmt = export.Format.for_path(args.out, excel=args.excel)
    with db.read() as session:
        count = export.export(session, args.out, selection, fmt=fmt)
    print(f"Wrote {count:,} transactions to {args.out}", file=sys.stderr)
    return 0


def fill_demo_data(args: argparse.Namespace, db: Database) -> int:
    """``demo-data``."""
    with db.write() as session:
        result = demo_data.fill(session, args.rows, args.days, seed=args.seed)
    print(
        f"Added {result.transactions:,} transactions ({result.requests:,} requests in "
        f"{result.conversations:,} conversations) over {args.days} days to {db.path}"
    )
    return 0


def _amount_of(args: argparse.Namespace) -> Decimal | None:
    """The amount given as credits or as ``--usd`` (the parser allows one of them)."""
    value: Decimal | None = args.amount if args.amount is not None else args.usd
    return value
