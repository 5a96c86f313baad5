"""``tallybook report``'s table as a user reads it: nothing cut, nothing dropped, no empty
column (in process: the layout, from the real report of a real ledger)."""

from __future__ import annotations

from datetime import datetime

from app.cli.output import TITLE_WIDTH, report_table
from app.core import conversations
from app.core.ledger import entries
from app.core.ledger.reports import build_report
from app.core.storage.db import Database
from app.core.types import GroupBy
from tests.factories import rates, spend

MODELS = (
    "deepseek-chat-v3-0324-with-a-very-long-vendor-suffix-that-goes-on",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "o3-mini",
    "o3-pro",
)
TITLE = "Planning the kitchen renovation budget with quotes from three contractors"


def _seed(db: Database) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title=TITLE)
        for model in MODELS:
            record = spend(100, 10, model_rates=rates(model=model))
            entries.spend_tokens(
                session,
                entries.Spend("openai", model, record.usage, record.rates, chat.id),
                now=datetime(2026, 12, 1, 9),
            )


def _table(db: Database, group_by: GroupBy) -> list[str]:
    with db.read() as session:
        return report_table(build_report(session, group_by)).splitlines()


def test_a_day_lists_every_model_in_full_one_per_line(db: Database) -> None:
    _seed(db)
    header, _rule, first, *rest = _table(db, GroupBy.DAY)
    assert header.split()[:3] == ["Date", "(UTC)", "Models"]
    assert first.startswith("2026-12-01  ") and "$" in first  # the figures on the first line
    listed = [line.split()[-1] if i else line.split()[1] for i, line in enumerate([first, *rest])]
    assert listed[: len(MODELS)] == sorted(MODELS)
    assert rest[len(MODELS) - 1].startswith("---")  # then the rule and the total
    assert rest[-1].startswith("Total")


def test_a_long_title_is_wrapped_between_words(db: Database) -> None:
    _seed(db)
    lines = _table(db, GroupBy.CONVERSATION)[2:]
    column = [line[:TITLE_WIDTH].rstrip() for line in lines[: len(MODELS)]]
    title_lines = [text for text in column if text]
    assert " ".join(title_lines) == TITLE
    assert all(len(text) <= TITLE_WIDTH for text in title_lines)
    assert all(word in TITLE.split() for text in title_lines for word in text.split())


def test_by_model_has_no_models_column(db: Database) -> None:
    _seed(db)
    header, _rule, *body = _table(db, GroupBy.MODEL)
    assert header.split()[:2] == ["Model", "Input"]
    assert "Models" not in header
    assert [line.split()[0] for line in body[: len(MODELS)]] == sorted(MODELS)
    assert all(line == line.rstrip() for line in body)
