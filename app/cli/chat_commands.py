"""The chat commands: count a prompt before sending, how good the counts were, send one message.

``count`` quotes through the metering client, as a send does: the same endpoint, price
provider, context window and rates, so what it says a prompt costs is what a send holds for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli import output
from app.core import conversations, money
from app.core.chats import Chats
from app.core.counting.tokens import TokenCount
from app.core.errors import InvalidSetting, MissingKey, TallybookError
from app.core.ledger import reports
from app.core.messages import ChatMessage, ChatPayload
from app.core.metering.client import ChatRequest, Metered, MeteringClient, Quote
from app.core.providers import counts, registry
from app.core.providers.base import TextDelta
from app.core.storage.db import Database
from app.core.types import ConversationId


def count_tokens(args: argparse.Namespace, db: Database) -> int:
    """``count``: a text's tokens (or a chat payload's), the context left, the prompt's cost.

    The price, window and endpoint come from the metering client's quote of the prompt as a
    request (a plain text is sent as one user message); a plain text's own tokens are counted
    as text.
    """
    text = _read_input(args.file)
    payload = _as_payload(text)
    provider = args.provider or registry.default_endpoint(args.model)
    messages = payload.messages if payload else (ChatMessage("user", text),)
    tools = payload.tools if payload else ()
    metering = MeteringClient(db)
    try:
        quote = metering.quote(ChatRequest(provider, args.model, messages, tools))
        count = quote.count if payload else metering.counter.count_text(args.model, text)
    finally:
        metering.close()
    remote: TokenCount | None = None
    if args.ask_provider:
        remote = counts.provider_count(quote.endpoint, args.model, messages, tools)
    _print_count(args, provider, payload, quote, count, remote)
    return 0


def _print_count(
    args: argparse.Namespace,
    provider: str,
    payload: ChatPayload | None,
    quote: Quote,
    count: TokenCount,
    remote: TokenCount | None,
) -> None:
    """The count, priced at the quote's rates (the provider's own count, when asked, wins)."""
    best = remote or count
    rates, limits = quote.rates, quote.limits
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
        return
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
    print(f"Prompt cost:   {money.format_usd(cost)} at {price}")


def show_estimates(args: argparse.Namespace, db: Database) -> int:
    """``estimates``: pre-send counts and computed prices against what providers reported."""
    with db.read() as session:
        count_gaps = reports.estimate_accuracy(session)
        cost_gaps = reports.cost_accuracy(session)
        flagged = reports.flagged_requests(session)
    if args.json:
        print(output.estimates_json(count_gaps, cost_gaps, flagged))
    else:
        output.print_estimates(count_gaps, cost_gaps, flagged)
    return 0


def chat(args: argparse.Namespace, db: Database) -> int:
    """``chat``: one message, in a new conversation or an existing one.

    A message that cannot be sent (empty, an unknown endpoint, no key) is refused before
    anything is stored: no conversation is created for it and nothing is charged, as in the
    window.
    """
    if not args.message.strip():
        raise InvalidSetting("There is nothing to send: the message is empty.")
    provider = args.provider or registry.default_endpoint(args.model)
    chats = Chats(db, MeteringClient(db))
    try:
        chats.recover_pending()
        if args.conversation is not None:
            with db.read() as session:
                conversations.get_conversation(session, args.conversation)  # or a clear error
        conversation = None if args.conversation is None else ConversationId(args.conversation)
        return _converse(chats, conversation, provider, args)
    except MissingKey as error:
        raise MissingKey(f"{error} From here: tallybook keys set {provider}.") from None
    finally:
        chats.metering.close()


def _converse(
    chats: Chats, conversation_id: ConversationId | None, provider: str, args: argparse.Namespace
) -> int:
    """Stream one reply to stdout, its cost and alerts to stderr; name a new conversation
    afterwards (a first message creates it, once the request is accepted)."""
    metered: Metered | None = None
    stream = chats.send(
        conversation_id, args.message, provider, args.model, max_tokens=args.max_tokens
    )
    started = False
    try:
        for item in stream:
            if isinstance(item, Metered):
                metered = item
            elif isinstance(item, TextDelta):
                started = True
                sys.stdout.write(item.text)
                sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()  # charges what arrived, marked incomplete
        print(
            "\n(cancelled: the part that arrived was charged, marked incomplete)", file=sys.stderr
        )
        return 130
    finally:
        if started or metered is not None:  # a refused request printed nothing to end
            print(flush=True)
    assert metered is not None and metered.conversation_id is not None
    print(output.spend_line(metered, metered.conversation_id), file=sys.stderr)
    output.print_alerts(metered)
    if metered.error is not None:
        print(f"tallybook: error: {metered.error}", file=sys.stderr)
        return 1
    chats.name(metered.conversation_id, provider, args.model, args.message)
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
