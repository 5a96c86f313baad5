"""The ``tallybook`` command line: every sub-command, its arguments and how they are checked.

Each sub-parser names its command as ``module.function`` of :mod:`app.cli`, imported only when
it runs (``handler``: takes the arguments and the ledger; ``standalone``: needs no ledger;
``None``: open the window). A malformed value is argparse's one-line usage error and exit 2,
before any ledger is opened.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from app import __version__
from app.core import money
from app.core.errors import TallybookError
from app.core.reconcile.sources import PROVIDERS
from app.core.types import EndpointApi, GroupBy, IntervalUnit


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line that says where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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

    _ledger_parsers(commands)
    _chat_parsers(commands)
    _serve_parsers(commands)
    _prices_parser(commands)
    _budget_parsers(commands)
    _endpoint_parsers(commands)
    _key_parsers(commands)
    _token_parsers(commands)
    _reconcile_parser(commands)
    return parser


def _ledger_parsers(commands: Any) -> None:
    add = commands.add_parser(
        "add-balance", help="add credits to the balance (1,000,000 credits = $1)"
    )
    _amount_arguments(add, required=True)
    add.set_defaults(handler="ledger_commands.add_balance")

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
        choices=[u.value for u in IntervalUnit],
        help="unit of --every (default days)",
    )
    set_.set_defaults(handler="ledger_commands.set_balance")

    listing = commands.add_parser(
        "list-balances", help="show the balance, in credits and USD, and its rules"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler="ledger_commands.list_balances")

    report = commands.add_parser(
        "report",
        help="spend by day, week, month, model, conversation or billed unit (UTC days)",
    )
    report.add_argument(
        "--by",
        choices=[g.value for g in GroupBy],
        default="day",
        help="what each row is (default day; weeks are ISO weeks, Monday to Sunday)",
    )
    _range_arguments(report)
    _source_argument(report)
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.set_defaults(handler="ledger_commands.show_report")

    exporter = commands.add_parser(
        "export", help="write transactions, oldest first, to a CSV, Excel (.xlsx) or JSON file"
    )
    exporter.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FILE.csv",
        help="the format follows the name: .csv, .xlsx (a workbook) or .json",
    )
    exporter.add_argument(
        "--excel",
        action="store_true",
        help="a CSV for Excel: a byte order mark, and times Excel reads as times (UTC)",
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
    exporter.set_defaults(handler="ledger_commands.export_transactions")

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
    demo.set_defaults(handler="ledger_commands.fill_demo_data")


def _chat_parsers(commands: Any) -> None:
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
    counting.set_defaults(handler="chat_commands.count_tokens")

    estimates = commands.add_parser(
        "estimates", help="how far pre-send counts were from what providers reported"
    )
    estimates.add_argument("--json", action="store_true", help="machine-readable output")
    estimates.set_defaults(handler="chat_commands.show_estimates")

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
    chat.set_defaults(handler="chat_commands.chat")


def _serve_parsers(commands: Any) -> None:
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
    emulator.set_defaults(standalone="serve_commands.run_emulator")

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
    serve.set_defaults(handler="serve_commands.serve")


def _prices_parser(commands: Any) -> None:
    prices = commands.add_parser("prices", help="show a model's rates, or set your own")
    actions = prices.add_subparsers(
        title="actions", metavar="ACTION", parser_class=_Parser, required=True
    )
    show = actions.add_parser("show", help="the rates a model is charged at, and their source")
    show.add_argument("model")
    show.add_argument("--provider", help="provider id, when it matters (openrouter, groq...)")
    show.set_defaults(handler="prices_commands.show_rates")
    set_ = actions.add_parser(
        "set", help="override a model's rates (credits per token = USD per 1M tokens)"
    )
    set_.add_argument("model")
    for name in ("prompt", "completion", "cache-write", "cache-read"):
        set_.add_argument(f"--{name}", type=_rate, metavar="RATE")
    set_.add_argument(
        "--yes",
        action="store_true",
        help="save even a rate that looks like a slip (over 100x the table's, or a cache read "
        "above the prompt rate)",
    )
    set_.set_defaults(handler="prices_commands.set_rates")
    unset = actions.add_parser("unset", help="drop your override for a model")
    unset.add_argument("model")
    unset.set_defaults(handler="prices_commands.unset_rates")
    default = actions.add_parser(
        "default", help="rates charged for models the price table does not know"
    )
    default.add_argument("--prompt", type=_rate, required=True, metavar="RATE")
    default.add_argument("--completion", type=_rate, required=True, metavar="RATE")
    default.set_defaults(handler="prices_commands.set_default_rates")
    online = actions.add_parser(
        "online", help="opt in or out of fetching newer prices while the app runs"
    )
    online.add_argument("state", choices=["on", "off"])
    online.set_defaults(handler="prices_commands.set_online_updates")


def _endpoint_parsers(commands: Any) -> None:
    endpoints = commands.add_parser(
        "endpoints", help="where requests go: list them, add your own by base URL, remove it"
    )
    actions = endpoints.add_subparsers(
        title="actions", metavar="ACTION", parser_class=_Parser, required=True
    )
    listing = actions.add_parser("list", help="built-in endpoints, then yours")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler="endpoint_commands.list_endpoints")
    add = actions.add_parser(
        "add",
        help="add an endpoint: a local server, a gateway or another vendor's API",
        description="Add an endpoint by its base URL (the part before /chat/completions for "
        "OpenAI-compatible servers). A URL without a scheme gets https:// (http:// for "
        "localhost). Its id (custom-NAME) names it in --provider and `tallybook keys`.",
    )
    add.add_argument("name", metavar="NAME", help='what to call it, e.g. "Work gateway"')
    add.add_argument("--base-url", required=True, metavar="URL", help="e.g. api.example.com/v1")
    add.add_argument(
        "--api",
        choices=[a.value for a in EndpointApi if a != EndpointApi.DEMO],
        default=EndpointApi.COMPATIBLE.value,
        help="the protocol it speaks: openai or compatible (Chat Completions, the default),"
        " anthropic (Messages) or gemini",
    )
    add.add_argument("--no-key", action="store_true", help="it needs no API key (a local server)")
    add.set_defaults(handler="endpoint_commands.add_endpoint")
    remove = actions.add_parser(
        "remove", help="forget one of your endpoints (its transactions stay) and its saved key"
    )
    remove.add_argument("name", metavar="NAME", help="its name or id")
    remove.set_defaults(handler="endpoint_commands.remove_endpoint")


def _key_parsers(commands: Any) -> None:
    keys = commands.add_parser(
        "keys",
        help="API keys: where each comes from, save, remove or test one",
        description="Keys are kept in the OS key store, never in the ledger; environment "
        "variables such as OPENAI_API_KEY are read too. A key is read from a hidden prompt, or "
        "from stdin when it is not a terminal, never from the command line.",
    )
    actions = keys.add_subparsers(
        title="actions", metavar="ACTION", parser_class=_Parser, required=True
    )
    listing = actions.add_parser("list", help="where each endpoint's key comes from")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler="key_commands.list_keys")
    for name, handler, text in (
        ("set", "save_key", "save a key in the key store (asked for, or read from stdin)"),
        ("remove", "remove_key", "remove a key from the key store"),
        ("test", "try_key", "list the provider's models with its key (costs nothing)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("provider", metavar="PROVIDER", help="an id from `keys list`")
        action.set_defaults(handler=f"key_commands.{handler}")
        if name == "set":  # taken only to refuse it without echoing it
            action.add_argument("key_on_command_line", nargs="?", help=argparse.SUPPRESS)


def _budget_parsers(commands: Any) -> None:
    budgets = commands.add_parser(
        "budgets", help="daily or monthly spending limits: list them, add one, remove one"
    )
    actions = budgets.add_subparsers(
        title="actions", metavar="ACTION", parser_class=_Parser, required=True
    )
    listing = actions.add_parser("list", help="each budget and what is spent of it this period")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler="budget_commands.list_budgets")
    add = actions.add_parser(
        "add",
        help="a limit per UTC day or calendar month; alerts at 50%%, 80%% and 100%%",
        description="Add a budget over all spend, or one provider's or one model's. It alerts "
        "at 50%, 80% and 100%; with --block, requests it covers are refused once it is "
        "reached.",
    )
    add.add_argument("period", choices=["day", "month"], help="per UTC day or calendar month")
    _amount_arguments(add, required=True)
    scope = add.add_mutually_exclusive_group()
    scope.add_argument("--provider", metavar="ID", help="only this endpoint's spend (openai...)")
    scope.add_argument("--model", metavar="NAME", help="only this model's spend (exact name)")
    add.add_argument(
        "--block", action="store_true", help="refuse requests it covers once it is reached"
    )
    add.set_defaults(handler="budget_commands.add_budget")
    remove = actions.add_parser("remove", help="delete a budget (its spend stays on the ledger)")
    remove.add_argument("id", type=_positive_int, metavar="ID", help="as `budgets list` shows")
    remove.set_defaults(handler="budget_commands.remove_budget")


def _token_parsers(commands: Any) -> None:
    tokens = commands.add_parser(
        "endpoint-tokens",
        help="the local endpoint's tool tokens: one per tool, its spend under its name",
        description="A tool token opens the local endpoint (`tallybook serve`, or the app's) "
        "like the access token, and files every request made with it under the tool's name, "
        "whatever the request's X-Tallybook-Source or User-Agent says. Its secret is kept in "
        "the OS key store and shown once, when it is made.",
    )
    actions = tokens.add_subparsers(
        title="actions", metavar="ACTION", parser_class=_Parser, required=True
    )
    listing = actions.add_parser("list", help="the working tool tokens (never their secrets)")
    listing.add_argument("--all", action="store_true", help="revoked ones too")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler="token_commands.list_tokens")
    add = actions.add_parser("add", help="make a token for a tool and print it, this once")
    add.add_argument("name", metavar="NAME", help="the tool's name, e.g. zed or nightly-report.py")
    add.set_defaults(handler="token_commands.add_token")
    revoke = actions.add_parser("revoke", help="refuse a tool's token from now on")
    revoke.add_argument("name", metavar="NAME", help="as `endpoint-tokens list` shows it")
    revoke.set_defaults(handler="token_commands.revoke_token")


def _reconcile_parser(commands: Any) -> None:
    reconcile = commands.add_parser(
        "reconcile",
        help="the ledger beside what a provider billed, per UTC day and model",
        description="Fetch the provider's own usage and cost records (an organisation admin or "
        "management key: OPENAI_ADMIN_KEY, ANTHROPIC_ADMIN_KEY, OPENROUTER_MANAGEMENT_KEY, or "
        "their key store entries; DeepSeek and Moonshot: the balance, with the chat key) and "
        "compare them with the ledger, per UTC day and model. "
        "Each row is a match, a drift (both saw it, figures more than 1% and a cent apart), "
        "outside (the provider saw spend the ledger lacks: another tool, another computer) or "
        "missing (the ledger has spend the provider does not show yet).",
    )
    reconcile.add_argument("--provider", required=True, choices=PROVIDERS)
    _range_arguments(reconcile)
    reconcile.add_argument("--json", action="store_true", help="machine-readable output")
    reconcile.add_argument(
        "--base-url", metavar="URL", help="read the provider's API here (a proxy, a test server)"
    )
    reconcile.add_argument(
        "--import-missing",
        action="store_true",
        help="record outside spend on the ledger at the provider's figure (again adds nothing)",
    )
    reconcile.add_argument(
        "--daily",
        choices=("on", "off"),
        help="turn the window's daily check of this provider on or off (alerts on outside "
        "spend or a drift; off by default), then print what is set",
    )
    reconcile.set_defaults(handler="reconcile_commands.reconcile")


# --- arguments shared by several commands ---------------------------------------------------


def _amount_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``AMOUNT`` in credits or ``--usd DOLLARS``: at most one (exactly one if ``required``)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "amount", nargs="?", type=_credits, metavar="AMOUNT", help="credits (1,000,000 = $1)"
    )
    group.add_argument(
        "--usd", type=_usd, metavar="DOLLARS", help="the amount in US dollars instead"
    )


def _range_arguments(parser: argparse.ArgumentParser) -> None:
    """``--since`` and ``--until``, inclusive UTC days; a range that ends before it starts is a
    usage error, whichever is given first."""
    parser.add_argument(
        "--since",
        type=_date,
        action=_DayRange,
        metavar="YYYY-MM-DD",
        help="first day included (UTC)",
    )
    parser.add_argument(
        "--until",
        type=_date,
        action=_DayRange,
        metavar="YYYY-MM-DD",
        help="last day included (UTC)",
    )


class _DayRange(argparse.Action):
    """Stores ``--since`` or ``--until``, then checks it against the other one if given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        since, until = getattr(namespace, "since", None), getattr(namespace, "until", None)
        if since is not None and until is not None and since > until:
            raise argparse.ArgumentError(None, f"--since {since} is after --until {until}")


def _source_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="only requests from this source: chat (the chat window) or a tool's name on the"
        " local endpoint, as `tallybook report --by conversation` shows it (repeatable)",
    )


# --- argument types -------------------------------------------------------------------------


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


def _port(text: str) -> int:
    """A port number; 0 picks a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return port
