"""``tallybook budgets list|add|remove``: what the balance dialog's budgets box does."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.core import money
from app.core.ledger import alerts
from app.core.ledger.alerts import BudgetView
from app.core.storage.db import Database

COLUMNS = ("ID", "Budget", "Spent", "Limit", "Used", "At 100%")


def list_budgets(args: argparse.Namespace, db: Database) -> int:
    """``budgets list``: each budget with this period's spend, as a table or ``--json``."""
    with db.read() as session:
        views = alerts.budgets(session)
    if args.json:
        print(json.dumps([budget_json(view) for view in views], indent=2))
    elif not views:
        print("No budgets. Add one with `tallybook budgets add month --usd 10`.")
    else:
        print(budget_table(views))
    return 0


def add_budget(args: argparse.Namespace, db: Database) -> int:
    """``budgets add``: a daily or monthly limit, overall or for one provider or model."""
    limit = args.amount if args.amount is not None else args.usd
    scope, target = "all", None
    if args.provider is not None:
        scope, target = "provider", args.provider
    elif args.model is not None:
        scope, target = "model", args.model
    with db.write() as session:
        budget_id = alerts.add_budget(session, args.period, limit, scope, target, block=args.block)
        (view,) = [view for view in alerts.budgets(session) if view.id == budget_id]
    blocks = "blocks sending once reached" if view.block else "alerts at 50%, 80% and 100%"
    print(f"Added budget {view.id}: {view.label}, {money.format_usd(view.limit)} ({blocks}).")
    return 0


def remove_budget(args: argparse.Namespace, db: Database) -> int:
    """``budgets remove ID``."""
    with db.write() as session:
        alerts.remove_budget(session, args.id)
    print(f"Removed budget {args.id}.")
    return 0


def budget_json(view: BudgetView) -> dict[str, Any]:
    """A budget for ``--json``: amounts as exact decimal strings, as every export has them."""
    return {
        "id": view.id,
        "period": view.period,
        "scope": view.scope,
        "target": view.target,
        "limit_credits": f"{view.limit:f}",
        "limit_usd": f"{money.credits_to_usd(view.limit):f}",
        "spent_credits": f"{view.spent:f}",
        "spent_usd": f"{money.credits_to_usd(view.spent):f}",
        "used_percent": round(view.percent, 1),
        "block": view.block,
    }


def budget_table(views: list[BudgetView]) -> str:
    """The budgets as aligned text columns, one budget a line."""
    rows = [
        (
            str(view.id),
            view.label,
            money.format_usd(view.spent),
            money.format_usd(view.limit),
            f"{view.percent:.0f}%",
            "blocks" if view.block else "alerts",
        )
        for view in views
    ]
    widths = [max(len(row[i]) for row in (COLUMNS, *rows)) for i in range(len(COLUMNS))]
    right = {2, 3, 4}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in (COLUMNS, *rows)
    )
