"""The balances of the balance-only providers, falling by what the emulator served them.

- DeepSeek ``GET /user/balance``: ``{"is_available", "balance_infos": [{"currency": "USD",
  "total_balance", "granted_balance", "topped_up_balance"}]}``, amounts as strings with two
  decimals, as DeepSeek writes them.
- Moonshot ``GET /v1/users/me/balance``: ``{"code": 0, "data": {"available_balance",
  "voucher_balance", "cash_balance"}, "scode": "0x0", "status": true}``, floats with five
  decimals; cash is spent before the voucher here, and goes negative with the balance.

Each starts at :data:`STARTING_BALANCE` USD and falls by the tally's spend for ``deepseek`` or
``moonshot`` (replies served under those names, and outside usage added for them). Errors are
in OpenAI's shape, as both providers answer.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from app.servers.emulator import openai
from app.servers.emulator.admin import fault_refusal
from app.servers.emulator.wire import Call, EmulatorState, Refused
from app.servers.wire import Answer, JsonAnswer, openai_error

STARTING_BALANCE = Decimal(50)
VOUCHER = Decimal(5)
"""Of Moonshot's starting balance, the part that is a voucher (granted, not paid)."""
DEEPSEEK_PATH = "/user/balance"
MOONSHOT_PATH = "/v1/users/me/balance"


def route(state: EmulatorState, call: Call) -> Answer | None:
    """The answer when ``call`` asks for a balance, else ``None``."""
    path = call.path.rstrip("/")
    if call.method != "GET" or path not in (DEEPSEEK_PATH, MOONSHOT_PATH):
        return None
    provider = "deepseek" if path == DEEPSEEK_PATH else "moonshot"
    try:
        fault_refusal(state, call, openai.api_key(call), provider)
    except Refused as refused:
        return openai_error(refused.failure, refused.fault)
    left = STARTING_BALANCE - state.served.spent(provider)
    return JsonAnswer(200, deepseek(left) if provider == "deepseek" else moonshot(left))


def deepseek(left: Decimal) -> dict[str, object]:
    """DeepSeek's answer for a balance of ``left`` USD."""
    shown = str(left.quantize(Decimal("0.01"), ROUND_HALF_EVEN))
    info = {
        "currency": "USD",
        "total_balance": shown,
        "granted_balance": "0.00",
        "topped_up_balance": shown,
    }
    return {"is_available": left > 0, "balance_infos": [info]}


def moonshot(left: Decimal) -> dict[str, object]:
    """Moonshot's answer for an available balance of ``left`` USD."""

    def number(value: Decimal) -> float:
        return float(value.quantize(Decimal("0.00001"), ROUND_HALF_EVEN))

    voucher = min(VOUCHER, max(left, Decimal(0)))
    data = {
        "available_balance": number(left),
        "voucher_balance": number(voucher),
        "cash_balance": number(left - voucher),
    }
    return {"code": 0, "data": data, "scode": "0x0", "status": True}
