"""``tallybook prices``: the rates a model is charged at, the user's overrides and defaults."""

from __future__ import annotations

import argparse

from app.core.errors import TallybookError
from app.core.pricing import plausibility, prices
from app.core.pricing.units import token_type_of
from app.core.storage.db import Database


def show_rates(args: argparse.Namespace, db: Database) -> int:
    """``prices show``: every billed unit's rate, its source, and the model's limits."""
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
    window = f"{limits.context_window:,} tokens" if limits.context_window else "unknown"
    output = f"{limits.max_output:,} tokens" if limits.max_output else "unknown"
    print(f"context window {window}, longest reply {output}")
    return 0


def set_rates(args: argparse.Namespace, db: Database) -> int:
    """``prices set``: override some of a model's rates, then show them all.

    A rate that looks like a slip (:func:`plausibility.doubts`) is refused with the reason
    unless ``--yes`` says it is meant; nothing is stored then.
    """
    rates = (args.prompt, args.completion, args.cache_write, args.cache_read)
    if all(rate is None for rate in rates):
        raise TallybookError(
            "give at least one of --prompt, --completion, --cache-write, --cache-read"
        )
    override = prices.RateOverride(args.model, *rates)
    with db.write() as session:
        prices.set_override(session, override)  # refuses a rate the ledger cannot hold
        reasons = plausibility.doubts(override, prices.default_rates(session))
        if reasons and not args.yes:
            raise TallybookError(
                f"{' '.join(reasons)} Nothing was saved; add --yes if that rate is meant."
            )
    return show_rates(argparse.Namespace(model=args.model, provider=None), db)


def unset_rates(args: argparse.Namespace, db: Database) -> int:
    """``prices unset``."""
    with db.write() as session:
        removed = prices.remove_override(session, args.model)
    print(
        f"Removed your rates for {args.model}."
        if removed
        else f"No override was set for {args.model}."
    )
    return 0


def set_default_rates(args: argparse.Namespace, db: Database) -> int:
    """``prices default``: what models no price source knows are charged."""
    with db.write() as session:
        prices.set_default_rates(session, args.prompt, args.completion)
    print(
        f"Unknown models are now charged {args.prompt:f} / {args.completion:f} credits per token."
    )
    return 0


def set_online_updates(args: argparse.Namespace, db: Database) -> int:
    """``prices online on|off``."""
    with db.write() as session:
        prices.set_online_updates(session, args.state == "on")
    if args.state == "on":
        print("The app will fetch newer prices from genai-prices hourly while it runs.")
    else:
        print("Prices come only from the data shipped with Tallybook.")
    return 0
