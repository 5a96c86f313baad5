"""The offline demo streams at a human pace unless told otherwise (the suite tells it 0)."""

from __future__ import annotations

import pytest

from app.core.providers import registry
from app.servers.emulator.demo import HUMAN_PACE, PACE_VARIABLE, OfflineDemo, demo_pace


@pytest.mark.parametrize(
    ("setting", "pace"),
    [(None, HUMAN_PACE), ("0", 0.0), ("0.1", 0.1), ("fast", HUMAN_PACE), ("-1", HUMAN_PACE)],
)
def test_the_demo_pace_is_human_unless_set(
    setting: str | None, pace: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting is None:
        monkeypatch.delenv(PACE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(PACE_VARIABLE, setting)
    assert demo_pace() == pace


def test_the_demo_server_streams_at_that_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PACE_VARIABLE, raising=False)
    demo = OfflineDemo()  # never offered to the registry: the session's demo stays the one used
    try:
        demo.url()  # starts it
        assert demo._server is not None and demo._server.chunk_delay == HUMAN_PACE
    finally:
        demo.close()
    assert registry.demo_url().startswith("http://127.0.0.1:")  # the session's demo stays
