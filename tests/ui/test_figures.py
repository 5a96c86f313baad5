"""The reply footer's words for every billed unit and flag (pure functions, no widgets)."""

from __future__ import annotations

from decimal import Decimal

from app.core.conversations import MessageUsage
from app.core.pricing.prices import DEFAULT_SOURCE, Rates
from app.core.pricing.units import PROVIDER_ADJUSTMENT, UnitCost
from app.ui.chat.figures import default_rate_flag, default_rate_tip, usage_details, usage_line

PLAIN = MessageUsage(1_200, 80, 1_000, 0, Decimal(1234), estimated=False, status="complete")


def test_a_plain_reply_reads_as_before() -> None:
    assert usage_line(PLAIN) == "1,200 in · 80 out · 1,000 cached · $0.0012"


def test_extra_units_steps_and_tiers_are_each_said_once() -> None:
    usage = MessageUsage(
        56_000,
        140,
        0,
        0,
        Decimal(230_000),
        estimated=False,
        status="complete",
        extras=(
            UnitCost("web_searches", Decimal(2), Decimal(20_000)),
            UnitCost("prompt_compaction", Decimal(100), Decimal(300)),
            UnitCost("cache_write_compaction", Decimal(55_000), Decimal(206_000)),
            UnitCost("flex:prompt", Decimal(1_000), Decimal(-1_250)),
            UnitCost("cache_write_1h", Decimal(900), Decimal(5_400)),
        ),
    )
    line = usage_line(usage)
    assert "2 web searches $0.02" in line
    assert "compaction $0.21" in line  # the step's rows together
    assert "flex -$0.0012" in line  # a discount
    assert "900 1-hour cache writes $0.0054" in line


def test_the_providers_figure_the_served_model_and_the_flags_are_marked() -> None:
    usage = MessageUsage(
        1_000,
        100,
        0,
        0,
        Decimal(3100),
        estimated=False,
        status="complete",
        extras=(UnitCost(PROVIDER_ADJUSTMENT, Decimal(1), Decimal(25)),),
        model="deepseek-v4-flash",
        requested_model="deepseek-reasoner",
        computed_cost=Decimal(3075),
        provider_cost=Decimal(3100),
        usage_notes="usage not fully understood: usage.warp_calls=2",
        default_rated=True,
    )
    line = usage_line(usage)
    assert "provider's figure" in line and "served by deepseek-v4-flash" in line
    assert "⚠ default rate" in line and "⚠ usage not fully understood" in line
    assert "provider's figure $" not in line  # the adjustment row is not an extra unit
    details = usage_details(usage)
    assert "Tallybook's price table gives $0.003075 (-0.8%)" in details
    assert "Asked for deepseek-reasoner; deepseek-v4-flash answered" in details
    assert "usage.warp_calls=2" in details


def test_an_unknown_models_flag_gives_its_rates_and_the_way_to_price_it() -> None:
    units = {"input_tokens": Decimal(10), "output_tokens": Decimal(30)}
    rates = Rates("my-llama", units, DEFAULT_SOURCE)
    assert default_rate_flag(rates) == "⚠ unknown price: default $10/$30 per 1M"
    tip = default_rate_tip(rates)
    assert "'my-llama'" in tip and "$10.00 in, $30.00 out per 1M tokens" in tip
    assert "Tools > Prices…" in tip
