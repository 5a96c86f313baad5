"""DeepSeek's and Moonshot's balances: written bodies, the emulator, the kept snapshots, and the
drop between two against the ledger's spend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from app.core.keys import ApiKey
from app.core.ledger import entries
from app.core.providers import registry
from app.core.reconcile.balances import (
    KEPT,
    DeepSeekBalance,
    MoonshotBalance,
    balance_drop,
    record_snapshot,
    snapshots,
)
from app.core.reconcile.records import BalanceSnapshot, ReconcileError
from app.core.storage.db import Database
from app.servers.emulator import Emulator
from app.servers.emulator.served import Served
from tests import factories
from tests.support.replay_server import Answer, ReplayServer, replay_server

KEY = ApiKey("sk-test-balance-0123456789abcdefghij")
AT = datetime(2025, 9, 1, 12, 0)
MOONSHOT_BODY = {
    "code": 0,
    "data": {"available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001},
    "scode": "0x0",
    "status": True,
}


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as replay:
        yield replay


def deepseek_body(*infos: tuple[str, str]) -> dict[str, Any]:
    return {
        "is_available": True,
        "balance_infos": [
            {
                "currency": currency,
                "total_balance": total,
                "granted_balance": "10.00",
                "topped_up_balance": "100.00",
            }
            for currency, total in infos
        ],
    }


def test_deepseek_takes_the_usd_balance_as_an_exact_decimal(server: ReplayServer) -> None:
    server.answer = Answer(200, deepseek_body(("CNY", "110.00"), ("USD", "15.37")))
    records = DeepSeekBalance(KEY, base_url=server.url, now=lambda: AT).fetch(AT.date(), AT.date())
    assert records.balance == BalanceSnapshot(AT, Decimal("15.37"), "USD")
    assert records.days == ()
    (request,) = server.requests
    assert urlsplit(request.path).path == "/user/balance"
    assert request.headers["authorization"] == f"Bearer {KEY.secret}"
    server.answer = Answer(200, deepseek_body(("CNY", "110.00")))
    assert DeepSeekBalance(KEY, base_url=f"{server.url}/v1").snapshot().currency == "CNY"


def test_moonshot_floats_are_read_exactly_in_the_regions_currency(server: ReplayServer) -> None:
    server.answer = Answer(200, MOONSHOT_BODY)
    intl = MoonshotBalance(KEY, base_url=server.url, now=lambda: AT).snapshot()
    assert intl == BalanceSnapshot(AT, Decimal("49.58894"), "USD")
    china = MoonshotBalance(KEY, region="cn", base_url=server.url).snapshot()
    assert (china.balance, china.currency) == (Decimal("49.58894"), "CNY")
    assert urlsplit(server.requests[0].path).path == "/v1/users/me/balance"
    with pytest.raises(ReconcileError, match="no region 'eu'"):
        MoonshotBalance(KEY, region="eu").snapshot()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "DeepSeek refused the API key (401)"),
        (429, "DeepSeek is rate limiting requests (429)"),
        (503, "DeepSeek failed or is overloaded (503)"),
    ],
)
def test_errors_are_one_sentence_without_the_key(
    server: ReplayServer, status: int, expected: str
) -> None:
    server.answer = Answer(status, {"error": {"message": f"Authentication Fails ({KEY.secret})"}})
    with pytest.raises(ReconcileError) as caught:
        DeepSeekBalance(KEY, base_url=server.url).snapshot()
    assert str(caught.value).startswith(expected)
    assert KEY.secret not in str(caught.value)


def test_an_answer_without_a_balance_is_a_sentence(server: ReplayServer) -> None:
    server.answer = Answer(200, {"is_available": False, "balance_infos": []})
    with pytest.raises(ReconcileError, match="no balance"):
        DeepSeekBalance(KEY, base_url=server.url).snapshot()
    server.answer = Answer(200, deepseek_body(("USD", "lots")))
    with pytest.raises(ReconcileError, match="balance that is not a number"):
        DeepSeekBalance(KEY, base_url=server.url).snapshot()


def test_no_key_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    with pytest.raises(ReconcileError, match="No Moonshot key is set"):
        MoonshotBalance().snapshot()


def test_the_history_keeps_the_latest_snapshots(db: Database) -> None:
    with db.write() as session:
        for n in range(KEPT + 3):
            snapshot = BalanceSnapshot(AT + timedelta(minutes=n), Decimal(n), "USD")
            record_snapshot(session, "deepseek", snapshot)
        record_snapshot(session, "moonshot", BalanceSnapshot(AT, Decimal("1.5"), "CNY"))
    with db.read() as session:
        kept = snapshots(session, "deepseek")
        assert len(kept) == KEPT and kept[0].balance == 3 and kept[-1].balance == KEPT + 2
        assert snapshots(session, "moonshot") == [BalanceSnapshot(AT, Decimal("1.5"), "CNY")]
        assert balance_drop(session, "moonshot") is None  # one snapshot: nothing to compare


def test_the_drop_between_snapshots_beside_the_ledgers_spend(db: Database) -> None:
    """The emulator's balance falls by what it served DeepSeek (here outside usage, which the
    ledger never saw) while the ledger charged a DeepSeek endpoint a little in between."""
    today = datetime.now(UTC).date()
    with Emulator() as emu:
        source = DeepSeekBalance(KEY, base_url=emu.url)
        first = source.snapshot()
        emu.state.served.add(Served(today, "deepseek", "deepseek-chat", 3, usd=Decimal("1.25")))
        with db.write() as session:
            record_snapshot(session, "deepseek", first)
            registry.add_endpoint(session, "DeepSeek EU", "https://api.deepseek.com/v1")
            spend = factories.spend(100_000, model_rates=factories.rates("1.5", "2"))
            for provider in ("deepseek", "custom-deepseek-eu", "openai"):
                entries.spend_tokens(session, _as(spend, provider), now=first.at)  # not counted
                later = first.at + timedelta(microseconds=1)
                entries.spend_tokens(session, _as(spend, provider), now=later)
        second = source.snapshot()
    with db.write() as session:
        record_snapshot(session, "deepseek", second)
        drop = balance_drop(session, "deepseek")
    assert drop is not None
    assert (first.balance, second.balance) == (Decimal("50.00"), Decimal("48.75"))
    assert drop.drop == Decimal("1.25")
    assert drop.ledger_usd == Decimal("0.3")  # 2 x 100,000 tokens at $1.5 per million
    assert drop.comparable and drop.unseen_usd == Decimal("0.95")


def test_the_emulators_moonshot_cash_goes_negative_with_the_balance() -> None:
    with Emulator() as emu:
        emu.state.served.add(Served(date.today(), "moonshot", "kimi-k2", usd=Decimal("50.5")))
        snapshot = MoonshotBalance(KEY, base_url=emu.url).snapshot()
        body = httpx2.get(
            f"{emu.url}/v1/users/me/balance", headers={"Authorization": f"Bearer {KEY.secret}"}
        ).json()
    assert snapshot.balance == Decimal("-0.5")
    assert body["data"] == {"available_balance": -0.5, "voucher_balance": 0.0, "cash_balance": -0.5}
    assert (body["code"], body["scode"], body["status"]) == (0, "0x0", True)


def _as(spend: entries.Spend, provider: str) -> entries.Spend:
    return replace(spend, provider=provider)
