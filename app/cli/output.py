"""What the commands print: balances, reports and estimate tables, as text or JSON, and the
one spend line each charged reply gets."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from app.core import money
from app.core.ledger import balance, reports
from app.core.metering.client import Metered
from app.core.types import GroupBy, RequestStatus
from app.servers.gateway import Settlement

# --- balances -------------------------------------------------------------------------------


def print_balance(view: balance.BalanceView) -> None:
    """The balance and its rules, one per line."""
    checking = (
        "on: a prompt the balance cannot pay for is refused"
        if view.enabled
        else "off: spend is tracked, never refused"
    )
    credits = view.credits
    print(f"Balance:        {money.format_credits(credits)} credits ({money.format_usd(credits)})")
    print(f"Checking:       {checking}")
    print(f"Start balance:  {money.format_credits(view.start_balance)} credits")
    if not view.auto_refill_enabled:
        print("Auto-refill:    off")
        return
    last = f" (last {view.last_refill_at:%Y-%m-%d %H:%M} UTC)" if view.last_refill_at else ""
    print(
        f"Auto-refill:    {money.format_credits(view.refill_amount)} credits when short, "
        f"at most every {view.refill_interval_value} {view.refill_interval_unit.value}{last}"
    )


def balance_json(view: balance.BalanceView) -> dict[str, Any]:
    """The balance for ``--json``: amounts as exact decimal strings."""
    return {
        "credits": f"{view.credits:f}",
        "usd": f"{money.credits_to_usd(view.credits):f}",
        "enabled": view.enabled,
        "start_balance": f"{view.start_balance:f}",
        "auto_refill": {
            "enabled": view.auto_refill_enabled,
            "amount": f"{view.refill_amount:f}",
            "interval_value": view.refill_interval_value,
            "interval_unit": view.refill_interval_unit.value,
            "last_refill_at": view.last_refill_at.isoformat() + "Z"
            if view.last_refill_at
            else None,
        },
    }


# --- reports --------------------------------------------------------------------------------


def report_json(result: reports.Report) -> dict[str, Any]:
    """A report for ``--json``: every row, then the total."""

    def row(r: reports.ReportRow) -> dict[str, Any]:
        return {
            "key": r.key,
            "label": r.label,
            "models": list(r.models),
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "cache_read_tokens": r.cache_read_tokens,
            "total_tokens": r.total_tokens,
            "cost_credits": f"{r.cost:f}",
            "cost_usd": f"{money.credits_to_usd(r.cost):f}",
        }

    return {
        "group_by": result.group_by.value,
        "since": result.selection.since.isoformat() if result.selection.since else None,
        "until": result.selection.until.isoformat() if result.selection.until else None,
        "sources": sorted(result.selection.sources),
        "rows": [row(r) for r in result.rows],
        "total": row(result.total),
    }


TITLE_WIDTH = 40
"""A label longer than this (a conversation's title) is wrapped at its spaces onto more lines."""
_HEADINGS = {
    GroupBy.DAY: "Date (UTC)",
    GroupBy.WEEK: "Week (UTC)",
    GroupBy.MONTH: "Month (UTC)",
    GroupBy.MODEL: "Model",
    GroupBy.CONVERSATION: "Conversation",
    GroupBy.UNIT: "Billed unit",
}


def report_table(result: reports.Report) -> str:
    """A report as an aligned table with a total line (or one sentence when it is empty).

    Nothing is cut or left out: a row lists its models one per line (as ccusage's daily table
    does) and a long title goes on as many lines as it needs, split between words; the figures
    stand on the row's first line. Grouped by model, the rows are the models: no Models column.
    """
    if not result.rows:
        return "No spend in this range" + (
            " from these sources." if result.selection.sources else "."
        )
    with_models = result.group_by is not GroupBy.MODEL
    headers = (
        _HEADINGS[result.group_by],
        *(("Models",) if with_models else ()),
        "Input",
        "Output",
        "Cache write",
        "Cache read",
        "Total tokens",
        "Cost (USD)",
    )
    text_columns = 2 if with_models else 1

    def lines(r: reports.ReportRow, models: Sequence[str]) -> list[tuple[str, ...]]:
        label = textwrap.wrap(
            r.label, TITLE_WIDTH, break_long_words=False, break_on_hyphens=False
        ) or [""]
        figures = (
            f"{r.input_tokens:,}",
            f"{r.output_tokens:,}",
            f"{r.cache_write_tokens:,}",
            f"{r.cache_read_tokens:,}",
            f"{r.total_tokens:,}",
            money.format_usd(r.cost),
        )
        rows = []
        for i in range(max(len(label), len(models))):
            text = [label[i] if i < len(label) else ""]
            if with_models:
                text.append(models[i] if i < len(models) else "")
            rows.append((*text, *(figures if i == 0 else ("",) * len(figures))))
        return rows

    body = [line for r in result.rows for line in lines(r, r.models if with_models else ())]
    total = lines(result.total, ())
    widths = [max(len(row[i]) for row in (headers, *body, *total)) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *map(line, body), rule, *map(line, total)])


# --- how good the estimates were ------------------------------------------------------------


def estimates_json(
    counts: Sequence[reports.EstimateAccuracy],
    costs: Sequence[reports.CostAccuracy],
    flagged: Sequence[reports.FlaggedRequest],
) -> str:
    """``estimates --json``: every row of the three tables."""
    return json.dumps(
        {
            "counts": [vars(row) for row in counts],
            "costs": [vars(row) for row in costs],
            "flagged": [vars(row) for row in flagged],
        },
        indent=2,
        default=str,
    )


def print_estimates(
    counts: Sequence[reports.EstimateAccuracy],
    costs: Sequence[reports.CostAccuracy],
    flagged: Sequence[reports.FlaggedRequest],
) -> None:
    """Count gaps by model and method, price gaps by model, then the flagged requests."""
    if not counts:
        print("No request has both a pre-send count and a reported one yet.")
    else:
        print("Pre-send counts against the provider's (prompt tokens)")
        print(f"{'Model':<28} {'Method':<38} {'Requests':>8} {'Mean gap':>9} {'Worst':>8}")
        for row in counts:
            print(
                f"{row.model[:28]:<28} {row.method[:38]:<38} {row.requests:>8,} "
                f"{row.mean_gap_percent:>+8.1f}% {row.worst_gap_percent:>7.1f}%"
            )
    if costs:
        print("\nComputed prices against the provider's own figures (the provider's is charged)")
        print(f"{'Model':<40} {'Requests':>8} {'Gap':>8} {'Worst':>8} {'>1% off':>8}")
        for cost in costs:
            print(
                f"{cost.model[:40]:<40} {cost.requests:>8,} {cost.gap_percent:>+7.2f}% "
                f"{cost.worst_gap_percent:>7.2f}% {cost.off:>8,}"
            )
    if flagged:
        print("\nFlagged requests (latest first)")
        for item in flagged:
            when = f"{item.created_at:%Y-%m-%d %H:%M}"
            print(f"  #{item.request_id} {when} {item.model}: {item.reason}")


# --- spend lines ----------------------------------------------------------------------------


def spend_line(metered: Metered, conversation_id: int) -> str:
    """A ``tallybook chat`` reply's tokens, cost and flags, and the conversation it is in."""
    usage = metered.usage
    extras = []
    if usage.cache_read_tokens:
        extras.append(f"cached {usage.cache_read_tokens:,}")
    if usage.cache_write_tokens + usage.cache_write_1h_tokens:
        extras.append(f"cache write {usage.cache_write_tokens + usage.cache_write_1h_tokens:,}")
    if usage.reasoning_tokens:
        extras.append(f"reasoning {usage.reasoning_tokens:,}")
    flags = []
    if metered.input_estimated:
        flags.append("input estimated")
    if metered.output_estimated:
        flags.append("output estimated")
    if metered.status != RequestStatus.COMPLETE:
        flags.append(metered.status)
    detail = f" ({', '.join(extras)})" if extras else ""
    flagged = f" [{'; '.join(flags)}]" if flags else ""
    return (
        f"tokens in {usage.input_tokens:,} / out {usage.completion_tokens:,}{detail} · "
        f"{money.format_usd(metered.cost)}{flagged} · conversation {conversation_id}"
    )


def print_settlement(done: Settlement) -> None:
    """``tallybook serve``'s line on stderr for each charged reply, and its alerts."""
    metered = done.metered
    usage = metered.usage
    flags: list[str] = [] if metered.status == RequestStatus.COMPLETE else [metered.status]
    if metered.estimated:
        flags.append("estimated")
    print(
        f"{done.source}: {usage.prompt_tokens + usage.cache_read_tokens:,} in, "
        f"{usage.completion_tokens:,} out, {money.format_usd(metered.cost)}"
        + (f" ({', '.join(flags)})" if flags else ""),
        file=sys.stderr,
        flush=True,
    )
    print_alerts(metered)


def print_alerts(metered: Metered) -> None:
    """The alerts a charge made true, on stderr (each is raised once, by whoever charged)."""
    for alert in metered.alerts:
        print(f"  alert: {alert.title}: {alert.message}", file=sys.stderr, flush=True)
