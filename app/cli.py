"""``tallybook``: start the app, or manage the ledger from a terminal.

Parses arguments, calls the core, prints. Every failure the user can fix is one line on stderr
and a non-zero exit (1 for a refused operation, 2 for a malformed command line); nothing is
written unless the whole operation succeeds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from app import __version__, serve_command
from app.core import conversations, logs, money
from app.core.chats import Chats
from app.core.counting.tokens import TokenCount, TokenCounter, counting_rules
from app.core.errors import TallybookError
from app.core.ledger import balance, demo_data, entries, export, reports
from app.core.ledger.browse import Filter
from app.core.messages import ChatMessage, ChatPayload
from app.core.metering.client import Metered, MeteringClient
from app.core.paths import data_dir, database_path
from app.core.pricing import prices
from app.core.pricing.units import token_type_of
from app.core.providers import counts, registry
from app.core.providers.base import TextDelta
from app.core.storage.db import Database
from app.servers.emulator.demo import OfflineDemo

Handler = Callable[[argparse.Namespace, Database], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line that says where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tallybook`` console script and of ``python main.py``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(data_dir(args.data_dir))  # a log file, and no key in it or in a traceback
    standalone: Callable[[argparse.Namespace], int] | None = getattr(args, "standalone", None)
    if standalone is not None:  # needs no ledger
        return standalone(args)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        from app.ui.launch import run_gui  # Qt is imported only when a window is wanted

        return run_gui(data_dir=args.data_dir, quit_after=getattr(args, "quit_after", None))
    try:
        db = Database(database_path(args.data_dir))
    except TallybookError as error:
        return _fail(error)
    try:
        with OfflineDemo():  # started only if a command sends to the demo
            return handler(args, db)
    except TallybookError as error:
        return _fail(error)
    except BrokenPipeError:  # `tallybook export ... | head`
        return 0
    finally:
        db.close()


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, one sub-parser per command, each with its own ``--help``."""
    parser = _Parser(
        prog="tallybook",
        description="Personal LLM spend tracker. With no command, opens the app.",
        epilog="The ledger lives in the user data folder; TALLYBOOK_HOME or --data-dir moves it.",
    )
    parser.add_argument("--version", action="version", version=f"tallybook {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder of the ledger file (default: $TALLYBOOK_HOME or the user data folder)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    gui = commands.add_parser("gui", help="open the app (the default)")
    gui.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="close the window after SECONDS, as if the user had (smoke tests of a build)",
    )
    gui.set_defaults(handler=None)

    add = commands.add_parser(
        "add-balance", help="add credits to the balance (1,000,000 credits = $1)"
    )
    _amount_arguments(add, required=True)
    add.set_defaults(handler=_add_balance)

    set_ = commands.add_parser("set-balance", help="set the balance and the balance rules")
    _amount_arguments(set_, required=False)
    toggle = set_.add_mutually_exclusive_group()
    toggle.add_argument(
        "--enable",
        dest="enabled",
        action="store_const",
        const=True,
        help="refuse requests whose prompt the balance cannot pay for",
    )
    toggle.add_argument(
        "--disable",
        dest="enabled",
        action="store_const",
        const=False,
        help="track spend only, never refuse",
    )
    set_.add_argument(
        "--start-balance",
        type=_credits,
        metavar="CREDITS",
        help="credits granted once, when checking is first enabled",
    )
    refill = set_.add_mutually_exclusive_group()
    refill.add_argument(
        "--auto-refill",
        type=_credits,
        metavar="CREDITS",
        help="refill this many credits when the balance runs short",
    )
    refill.add_argument("--no-auto-refill", action="store_true", help="turn auto-refill off")
    set_.add_argument(
        "--every",
        type=_positive_int,
        metavar="N",
        help="at most one refill every N units (default 1)",
    )
    set_.add_argument(
        "--unit",
        choices=[u.value for u in balance.IntervalUnit],
        help="unit of --every (default days)",
    )
    set_.set_defaults(handler=_set_balance)

    listing = commands.add_parser(
        "list-balances", help="show the balance, in credits and USD, and its rules"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list_balances)

    report = commands.add_parser(
        "report", help="spend by day, month, model or conversation (UTC days)"
    )
    report.add_argument("--by", choices=[g.value for g in reports.GroupBy], default="day")
    _range_arguments(report)
    _source_argument(report)
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.set_defaults(handler=_report)

    exporter = commands.add_parser("export", help="write transactions to a CSV (or .json) file")
    exporter.add_argument(
        "--out", required=True, type=Path, metavar="FILE.csv", help="a .json name writes JSON"
    )
    _range_arguments(exporter)
    exporter.add_argument(
        "--model", action="append", help="only this model (exact name as recorded; repeatable)"
    )
    exporter.add_argument("--provider", action="append", help="only this provider (repeatable)")
    exporter.add_argument(
        "--token-type",
        action="append",
        choices=["prompt", "completion", "cache_write", "cache_read", "credits"],
        help="only this token type (repeatable)",
    )
    exporter.add_argument(
        "--conversation", type=_positive_int, metavar="ID", help="only this conversation"
    )
    _source_argument(exporter)
    exporter.set_defaults(handler=_export)

    demo = commands.add_parser("demo-data", help="fill the ledger with synthetic history")
    demo.add_argument(
        "--rows", type=_positive_int, default=10_000, help="transactions to add (default 10000)"
    )
    demo.add_argument(
        "--days",
        type=_positive_int,
        default=90,
        help="spread over this many past days (default 90)",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed, for repeatable data")
    demo.set_defaults(handler=_demo_data)

    counting = commands.add_parser(
        "count", help="count the tokens of a text or an OpenAI-style chat payload, before sending"
    )
    counting.add_argument(
        "--model", required=True, help="model name, e.g. gpt-6.1-sol or claude-sonnet-5-5"
    )
    counting.add_argument("--provider", help="provider id, for prices and the provider's own count")
    counting.add_argument(
        "file",
        nargs="?",
        default="-",
        help='a text file, or JSON {"messages": [...], "tools": [...]}; - or nothing for stdin',
    )
    counting.add_argument(
        "--ask-provider",
        action="store_true",
        help="also ask Anthropic/Gemini to count it (needs a key; sends the text)",
    )
    counting.add_argument("--json", action="store_true", help="machine-readable output")
    counting.set_defaults(handler=_count)

    estimates = commands.add_parser(
        "estimates", help="how far pre-send counts were from what providers reported"
    )
    estimates.add_argument("--json", action="store_true", help="machine-readable output")
    estimates.set_defaults(handler=_estimates)

    chat = commands.add_parser(
        "chat", help="send one message through the metering client and stream the reply"
    )
    chat.add_argument("message", help="what to say (use quotes)")
    chat.add_argument(
        "--model", required=True, help="e.g. gpt-4o-mini, claude-haiku-4-5, gemini-2.5-flash"
    )
    chat.add_argument(
        "--provider",
        help="endpoint id: openai, anthropic, gemini, openrouter, ..., or demo (offline)",
    )
    chat.add_argument(
        "--conversation", type=_positive_int, metavar="ID", help="continue this conversation"
    )
    chat.add_argument("--max-tokens", type=_positive_int, metavar="N", help="longest reply")
    chat.set_defaults(handler=_chat)

    emulator = commands.add_parser(
        "emulator", help="run the local provider emulator (OpenAI, Anthropic, Gemini protocols)"
    )
    emulator.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    emulator.add_argument(
        "--chunk-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause between streamed chunks, to feel like a real provider",
    )
    emulator.set_defaults(standalone=_emulator)

    serve_command.add_parser(commands)
    _prices_parser(commands)
    return parser


def _prices_parser(commands: Any) -> None:
    prices = commands.add_parser("prices", help="show a model's rates, or set your own")
    actions = prices.add_subparsers(
        title="actions", metavar="ACTION", parser_class=_Parser, required=True
    )
    show = actions.add_parser("show", help="the rates a model is charged at, and their source")
    show.add_argument("model")
    show.add_argument("--provider", help="provider id, when it matters (openrouter, groq...)")
    show.set_defaults(handler=_prices_show)
    set_ = actions.add_parser(
        "set", help="override a model's rates (credits per token = USD per 1M tokens)"
    )
    set_.add_argument("model")
    for name in ("prompt", "completion", "cache-write", "cache-read"):
        set_.add_argument(f"--{name}", type=_rate, metavar="RATE")
    set_.set_defaults(handler=_prices_set)
    unset = actions.add_parser("unset", help="drop your override for a model")
    unset.add_argument("model")
    unset.set_defaults(handler=_prices_unset)
    default = actions.add_parser(
        "default", help="rates charged for models the price table does not know"
    )
    default.add_argument("--prompt", type=_rate, required=True, metavar="RATE")
    default.add_argument("--completion", type=_rate, required=True, metavar="RATE")
    default.set_defaults(handler=_prices_default)
    online = actions.add_parser(
        "online", help="opt in or out of fetching newer prices while the app runs"
    )
    online.add_argument("state", choices=["on", "off"])
    online.set_defaults(handler=_prices_online)


# --- handlers -------------------------------------------------------------------------------


def _add_balance(args: argparse.Namespace, db: Database) -> int:
    amount = _amount_of(args)
    assert amount is not None  # the parser requires AMOUNT or --usd
    with db.write() as session:
        entries.add_credits(session, amount, context="top-up")
        credits = entries.current_balance(session)
    print(f"Balance: {money.format_credits(credits)} credits ({money.format_usd(credits)})")
    return 0


def _set_balance(args: argparse.Namespace, db: Database) -> int:
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
    _print_balance(view)
    return 0


def _list_balances(args: argparse.Namespace, db: Database) -> int:
    with db.read() as session:
        view = balance.get_balance(session)
    if args.json:
        print(json.dumps(_balance_json(view), indent=2))
    else:
        _print_balance(view)
    return 0


def _report(args: argparse.Namespace, db: Database) -> int:
    with db.read() as session:
        result = reports.build_report(
            session,
            reports.GroupBy(args.by),
            since=args.since,
            until=args.until,
            sources=frozenset(args.source or ()),
        )
    if args.json:
        print(json.dumps(_report_json(result), indent=2))
    else:
        print(_report_table(result))
    return 0


def _export(args: argparse.Namespace, db: Database) -> int:
    selection = Filter(
        since=args.since,
        until=args.until,
        providers=frozenset(args.provider or ()),
        models=frozenset(args.model or ()),
        conversation_id=args.conversation,
        token_types=frozenset(args.token_type or ()),
        sources=frozenset(args.source or ()),
    )
    with db.read() as session:
        count = export.export(session, args.out, selection)
    print(f"Wrote {count:,} transactions to {args.out}", file=sys.stderr)
    return 0


def _demo_data(args: argparse.Namespace, db: Database) -> int:
    with db.write() as session:
        result = demo_data.fill(session, args.rows, args.days, seed=args.seed)
    print(
        f"Added {result.transactions:,} transactions ({result.requests:,} requests in "
        f"{result.conversations:,} conversations) over {args.days} days to {db.path}"
    )
    return 0


def _prices_show(args: argparse.Namespace, db: Database) -> int:
    with db.read() as session:
        book = prices.PriceBook.load(session)
    rates = book.rates(args.model, provider=args.provider)
    limits = book.limits(args.model, provider=args.provider)
    print(
        f"{args.model} -> {rates.model}  ({rates.source}{'; FLAGGED' if rates.is_default else ''})"
    )
    print("credits per unit (per token: the same number as USD per 1M tokens):")
    for key, rate in rates.units.items():
        print(f"  {token_type_of(key):<20}{rate:f}")
    for adjustment in rates.adjustments:
        name = f"{adjustment.reason}:{token_type_of(adjustment.usage_key)}"
        print(f"  {name:<20}{adjustment.delta:+f}")
    window = f"{limits.context_window:,}" if limits.context_window else "unknown"
    output = f"{limits.max_output:,}" if limits.max_output else "unknown"
    print(f"context window {window} tokens, longest reply {output} tokens")
    return 0


def _prices_set(args: argparse.Namespace, db: Database) -> int:
    rates = (args.prompt, args.completion, args.cache_write, args.cache_read)
    if all(rate is None for rate in rates):
        raise TallybookError(
            "give at least one of --prompt, --completion, --cache-write, --cache-read"
        )
    with db.write() as session:
        prices.set_override(session, prices.RateOverride(args.model, *rates))
    return _prices_show(argparse.Namespace(model=args.model, provider=None), db)


def _prices_unset(args: argparse.Namespace, db: Database) -> int:
    with db.write() as session:
        removed = prices.remove_override(session, args.model)
    print(
        f"Removed your rates for {args.model}."
        if removed
        else f"No override was set for {args.model}."
    )
    return 0


def _prices_default(args: argparse.Namespace, db: Database) -> int:
    with db.write() as session:
        prices.set_default_rates(session, args.prompt, args.completion)
    print(
        f"Unknown models are now charged {args.prompt:f} / {args.completion:f} credits per token."
    )
    return 0


def _prices_online(args: argparse.Namespace, db: Database) -> int:
    with db.write() as session:
        prices.set_online_updates(session, args.state == "on")
    if args.state == "on":
        print("The app will fetch newer prices from genai-prices hourly while it runs.")
    else:
        print("Prices come only from the data shipped with Tallybook.")
    return 0


def _count(args: argparse.Namespace, db: Database) -> int:
    text = _read_input(args.file)
    payload = _as_payload(text)
    counter = TokenCounter()
    if payload is None:
        count = counter.count_text(args.model, text)
    else:
        count = counter.count_chat(args.model, payload.messages, payload.tools)
    provider = args.provider or _default_endpoint(args.model)
    with db.read() as session:
        book = prices.PriceBook.load(session)
        endpoint = registry.get_endpoint(session, provider)
    remote: TokenCount | None = None
    if args.ask_provider:
        messages = payload.messages if payload else (ChatMessage("user", text),)
        remote = counts.provider_count(
            endpoint, args.model, messages, payload.tools if payload else ()
        )
    best = remote or count
    rates = book.rates(args.model, provider=args.provider, input_tokens=best.tokens)
    limits = book.limits(args.model, provider=args.provider)
    cost = money.tidy(best.tokens * rates.prompt)
    left = limits.context_window - best.tokens if limits.context_window else None
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "kind": "text" if payload is None else "chat",
                    "tokens": count.tokens,
                    "exact": count.exact,
                    "method": count.method,
                    "provider_count": remote.tokens if remote else None,
                    "context_window": limits.context_window,
                    "context_left": left,
                    "prompt_rate": f"{rates.prompt:f}",
                    "rate_source": rates.source,
                    "prompt_cost_credits": f"{cost:f}",
                    "prompt_cost_usd": f"{money.credits_to_usd(cost):f}",
                },
                indent=2,
            )
        )
        return 0
    kind = "plain text" if payload is None else f"chat payload, {len(payload.messages)} messages"
    quality = "exact" if count.exact else "ESTIMATE"
    print(f"Tokens:        {count.tokens:,} ({quality}: {count.method}; {kind})")
    if remote:
        gap = count.tokens - remote.tokens
        print(f"{provider} says: {remote.tokens:,} (local estimate off by {gap:+,})")
    if limits.context_window:
        print(f"Context:       {limits.context_window:,} window, {left:,} left")
    else:
        print("Context:       window unknown for this model")
    price = f"{rates.prompt:f} credits/token ({rates.source})"
    print(f"Prompt cost:   {money.format_usd(cost, places=6)} at {price}")
    return 0


def _estimates(args: argparse.Namespace, db: Database) -> int:
    with db.read() as session:
        counts = reports.estimate_accuracy(session)
        costs = reports.cost_accuracy(session)
        flagged = reports.flagged_requests(session)
    if args.json:
        print(
            json.dumps(
                {
                    "counts": [vars(row) for row in counts],
                    "costs": [vars(row) for row in costs],
                    "flagged": [vars(row) for row in flagged],
                },
                indent=2,
                default=str,
            )
        )
        return 0
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
    return 0


def _read_input(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise TallybookError(f"Cannot read {source}: {error.strerror}.") from None
    except UnicodeDecodeError:
        raise TallybookError(f"{source} is not UTF-8 text.") from None


def _as_payload(text: str) -> ChatPayload | None:
    """A chat payload if the text is one, ``None`` for plain text; a broken payload is an error."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    is_object = isinstance(data, dict) and "messages" in data
    is_list = isinstance(data, list) and bool(data)
    if is_object or (is_list and all(isinstance(item, dict) and "role" in item for item in data)):
        return ChatPayload.from_openai(data)
    return None


def _chat(args: argparse.Namespace, db: Database) -> int:
    provider = args.provider or _default_endpoint(args.model)
    chats = Chats(db, MeteringClient(db))
    try:
        if args.conversation is None:
            conversation_id = chats.start(provider, args.model).id
        else:
            with db.read() as session:
                conversation_id = conversations.get_conversation(session, args.conversation).id
        return _converse(chats, conversation_id, provider, args)
    finally:
        chats.metering.close()


def _converse(chats: Chats, conversation_id: int, provider: str, args: argparse.Namespace) -> int:
    """Stream one reply to stdout, its cost to stderr; name a new conversation afterwards."""
    metered: Metered | None = None
    stream = chats.send(
        conversation_id, args.message, provider, args.model, max_tokens=args.max_tokens
    )
    try:
        for item in stream:
            if isinstance(item, Metered):
                metered = item
            elif isinstance(item, TextDelta):
                sys.stdout.write(item.text)
                sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()  # charges what arrived, marked incomplete
        print(
            "\n(cancelled: the part that arrived was charged, marked incomplete)", file=sys.stderr
        )
        return 130
    finally:
        print(flush=True)
    assert metered is not None
    print(_spend_line(metered, conversation_id), file=sys.stderr)
    if metered.error is not None:
        print(f"tallybook: error: {metered.error}", file=sys.stderr)
        return 1
    if chats.needs_title(conversation_id):
        chats.name(conversation_id, provider, args.model, args.message)
    return 0


def _spend_line(metered: Metered, conversation_id: int) -> str:
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
    if metered.status != "complete":
        flags.append(metered.status)
    detail = f" ({', '.join(extras)})" if extras else ""
    flagged = f" [{'; '.join(flags)}]" if flags else ""
    return (
        f"tokens in {usage.input_tokens:,} / out {usage.completion_tokens:,}{detail} · "
        f"{money.format_usd(metered.cost, places=6)}{flagged} · conversation {conversation_id}"
    )


def _default_endpoint(model: str) -> str:
    family = counting_rules(model).family
    return {"anthropic": "anthropic", "gemini": "gemini"}.get(family, "openai")


def _emulator(args: argparse.Namespace) -> int:
    from app.servers.emulator import Emulator

    server = Emulator(port=args.port, chunk_delay=args.chunk_delay)
    print(f"Emulator on {server.url} (OpenAI at /v1, Anthropic, Gemini); Ctrl+C stops.")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


# --- output ---------------------------------------------------------------------------------


def _print_balance(view: balance.BalanceView) -> None:
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


def _balance_json(view: balance.BalanceView) -> dict[str, Any]:
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


def _report_json(result: reports.Report) -> dict[str, Any]:
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
        "since": result.since.isoformat() if result.since else None,
        "until": result.until.isoformat() if result.until else None,
        "sources": sorted(result.sources),
        "rows": [row(r) for r in result.rows],
        "total": row(result.total),
    }


def _report_table(result: reports.Report) -> str:
    heading = {
        "day": "Date (UTC)",
        "month": "Month (UTC)",
        "model": "Model",
        "conversation": "Conversation",
        "unit": "Billed unit",
    }
    headers = (
        heading[result.group_by.value],
        "Models",
        "Input",
        "Output",
        "Cache write",
        "Cache read",
        "Total tokens",
        "Cost (USD)",
    )

    def cells(r: reports.ReportRow) -> tuple[str, ...]:
        models = ", ".join(r.models) if result.group_by is not reports.GroupBy.MODEL else ""
        return (
            r.label[:40],
            models[:48],
            f"{r.input_tokens:,}",
            f"{r.output_tokens:,}",
            f"{r.cache_write_tokens:,}",
            f"{r.cache_read_tokens:,}",
            f"{r.total_tokens:,}",
            money.format_usd(r.cost),
        )

    body = [cells(r) for r in result.rows]
    if not body:
        return "No spend in this range" + (" from these sources." if result.sources else ".")
    total = cells(result.total)
    total = (total[0], "", *total[2:])
    widths = [max(len(row[i]) for row in (headers, *body, total)) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *map(line, body), rule, line(total)])


# --- argument types -------------------------------------------------------------------------


def _amount_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "amount", nargs="?", type=_credits, metavar="AMOUNT", help="credits (1,000,000 = $1)"
    )
    group.add_argument(
        "--usd", type=_usd, metavar="DOLLARS", help="the amount in US dollars instead"
    )


def _amount_of(args: argparse.Namespace) -> Decimal | None:
    value: Decimal | None = args.amount if args.amount is not None else args.usd
    return value


def _range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=_date, metavar="YYYY-MM-DD", help="first day included (UTC)"
    )
    parser.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="last day included (UTC)")


def _source_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="only requests from this source: chat (the chat window) or a tool's name on the"
        " local endpoint, as `tallybook report --by conversation` shows it (repeatable)",
    )


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap a core parser so its error becomes argparse's one-line usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except TallybookError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert


_credits = _checked(money.parse_credits)
_usd = _checked(money.parse_usd)
_rate = _checked(money.parse_rate)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _fail(error: TallybookError) -> int:
    print(f"tallybook: error: {error}", file=sys.stderr)
    return 1
