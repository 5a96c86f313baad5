"""``tallybook reconcile``: the ledger beside what a provider billed, per UTC day and model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.core import money
from app.core.clock import utcnow
from app.core.pricing.prices import PriceBook
from app.core.reconcile import compare, daily, importer, sources
from app.core.reconcile.records import BalanceSnapshot, UsageSource
from app.core.storage.db import Database

if TYPE_CHECKING:
    from app.core.reconcile.balances import BalanceDrop

DEFAULT_DAYS = 30
"""Without ``--since``: the 30 days that end with ``--until`` (today by default)."""
_PROG = "tallybook reconcile"


def reconcile(args: argparse.Namespace, db: Database) -> int:
    """``reconcile``: fetch the provider's records, compare, print; import outside spend if
    asked. A range that ends in the future (or starts after it ends) is a usage error, 2; a
    provider's refusal or failure is its one sentence and 1, with nothing written. With
    ``--daily``, only turns the daily check on or off."""
    if args.daily is not None:
        return _set_daily(db, args.provider, args.daily == "on")
    today = utcnow().date()
    until: date = args.until or today
    since: date = args.since or until - timedelta(days=DEFAULT_DAYS - 1)
    if until > today:
        return _usage_error(f"--until {until} is in the future (today is {today}, UTC)")
    if since > until:
        return _usage_error(f"--since {since} is after --until {until}")
    return run(args, db, sources.source_for(args.provider, args.base_url), since, until)


def run(
    args: argparse.Namespace, db: Database, source: UsageSource, since: date, until: date
) -> int:
    """The command once its range is settled, reading from ``source``."""
    records = source.fetch(since, until)  # before any ledger lock: the network can be slow
    if records.balance is not None and not records.days:
        return _balance_check(args, db, records.provider, records.balance)
    imported = None
    if args.import_missing:
        with db.write() as session:
            book = PriceBook.load(session)
            result = compare.reconcile(session, records, book)
            imported = importer.import_outside(session, result)
            result = compare.reconcile(session, records, book)
    else:
        with db.read() as session:
            result = compare.reconcile(session, records, PriceBook.load(session))
    if args.json:
        print(json.dumps(reconciliation_json(result, imported), indent=2))
    else:
        print(reconciliation_table(result))
    if imported is not None:
        print(
            f"Imported {imported.requests:,} day(s) of outside spend"
            f" ({money.format_usd(imported.credits)}) under the source"
            f" '{compare.source_of(result.provider)}'",
            file=sys.stderr,
        )
    return 0


def reconciliation_json(
    result: compare.Reconciliation, imported: importer.Imported | None = None
) -> dict[str, Any]:
    """The reconciliation for ``--json``: money as exact decimal strings, ``provider_usd``
    null where the provider gives only tokens."""
    shown: dict[str, Any] = {
        "provider": result.provider,
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "rows": [
            {"day": row.day.isoformat(), "model": row.model, "status": row.status.value}
            | _figures(row)
            for row in result.rows
        ],
        "totals": _figures(result.totals)
        | {
            "statuses": {status.value: n for status, n in result.counts().items()},
            "unattributed_usd": None
            if result.unattributed_usd is None
            else _usd(result.unattributed_usd),
        },
    }
    if imported is not None:
        shown["imported"] = {
            "requests": imported.requests,
            "usd": _usd(money.credits_to_usd(imported.credits)),
        }
    return shown


def reconciliation_table(result: compare.Reconciliation) -> str:
    """The rows as an aligned table with a total line (or one sentence when there are none)."""
    if not result.rows:
        return (
            f"Neither the ledger nor {result.provider} shows spend from {result.since}"
            f" to {result.until}."
        )
    imports = any(not row.imported.empty for row in result.rows)
    headers = compare.COLUMNS if imports else compare.COLUMNS[:-1]

    def cells(label: str, model: str, status: str, row: compare.Row | compare.Totals) -> list[str]:
        ledger, provider = row.ledger, row.provider
        return [
            label,
            model,
            status,
            f"{ledger.input_tokens:,}",
            f"{ledger.output_tokens:,}",
            f"{provider.input_tokens:,}",
            f"{provider.output_tokens:,}",
            money.format_dollars(ledger.usd or Decimal(0)),
            "tokens only" if provider.usd is None else money.format_dollars(provider.usd),
            compare.difference_words(row),
            *((money.format_dollars(row.imported.usd or Decimal(0)),) if imports else ()),
        ]

    body = [cells(r.day.isoformat(), r.model, r.status.value, r) for r in result.rows]
    total = cells("Total", "", "", result.totals)
    widths = [max(len(line[i]) for line in (headers, *body, total)) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    table = [line(headers), rule, *map(line, body), rule, line(total)]
    if result.unattributed_usd:
        table.append(
            f"Also billed on no model (images, tools, storage...):"
            f" {money.format_dollars(result.unattributed_usd)}, in no row above."
        )
    return "\n".join(table)


def _set_daily(db: Database, provider: str, on: bool) -> int:
    with db.write() as session:
        daily.set_enabled(session, provider, on)
        now_on = daily.is_enabled(session, provider)
    print(f"The daily check of {provider} is {'on' if now_on else 'off'}.")
    return 0


def _balance_check(
    args: argparse.Namespace, db: Database, provider: str, snapshot: BalanceSnapshot
) -> int:
    """A balance-only provider: keep the snapshot, then its drop since the previous one
    beside what the ledger charged in between (no days or models to compare)."""
    from app.core.reconcile import balances

    with db.write() as session:
        balances.record_snapshot(session, provider, snapshot)
        drop = balances.balance_drop(session, provider)
    if args.json:
        print(json.dumps(balance_json(provider, snapshot, drop), indent=2))
        return 0
    print(
        f"{provider} balance: {snapshot.balance:f} {snapshot.currency}"
        f" at {snapshot.at:%Y-%m-%d %H:%M} UTC"
    )
    if drop is None:
        print("The first check: the next one says what the balance fell by in between.")
    elif drop.unseen_usd is None:
        print(
            f"Since {drop.previous.at:%Y-%m-%d %H:%M} UTC it fell by {drop.drop:f}"
            f" {snapshot.currency}; the ledger charged {money.format_dollars(drop.ledger_usd)}"
            " (not in one currency: no difference to say)."
        )
    else:
        print(
            f"Since {drop.previous.at:%Y-%m-%d %H:%M} UTC it fell by"
            f" {money.format_dollars(drop.drop)}; the ledger charged"
            f" {money.format_dollars(drop.ledger_usd)}; spend the ledger did not see:"
            f" {money.format_dollars(drop.unseen_usd)}."
        )
    return 0


def balance_json(
    provider: str, snapshot: BalanceSnapshot, drop: BalanceDrop | None
) -> dict[str, Any]:
    """A balance check for ``--json``: the snapshot, and the drop since the previous one."""

    def shown(at: BalanceSnapshot) -> dict[str, str]:
        return {"at": at.at.isoformat(), "balance": _usd(at.balance), "currency": at.currency}

    return {
        "provider": provider,
        "rows": [],
        "balance": shown(snapshot),
        "drop": None
        if drop is None
        else {
            "previous": shown(drop.previous),
            "drop": _usd(drop.drop),
            "ledger_usd": _usd(drop.ledger_usd),
            "unseen_usd": None if drop.unseen_usd is None else _usd(drop.unseen_usd),
        },
    }


def _figures(row: compare.Row | compare.Totals) -> dict[str, Any]:
    ledger, provider, gap = row.ledger, row.provider, row.difference_usd
    return {
        "ledger_usd": _usd(ledger.usd or Decimal(0)),
        "provider_usd": None if provider.usd is None else _usd(provider.usd),
        "difference_usd": None if gap is None else _usd(gap),
        "imported_usd": _usd(row.imported.usd or Decimal(0)),
        "ledger_input_tokens": ledger.input_tokens,
        "ledger_output_tokens": ledger.output_tokens,
        "provider_input_tokens": provider.input_tokens,
        "provider_output_tokens": provider.output_tokens,
    }


def _usd(usd: Decimal) -> str:
    return f"{money.tidy(usd):f}"


def _usage_error(message: str) -> int:
    print(f"{_PROG}: error: {message} (see {_PROG} --help)", file=sys.stderr)
    return 2
