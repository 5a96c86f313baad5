"""Small named preferences kept in the ledger file as JSON."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.storage.models import Setting

T = TypeVar("T")


def get(session: Session, key: str, default: T) -> T:
    """The stored value for ``key``, or ``default`` when it was never set."""
    text = session.execute(select(Setting.value).where(Setting.key == key)).scalar()
    if text is None:
        return default
    value: T = json.loads(text)
    return value


def put(session: Session, key: str, value: Any) -> None:
    """Store ``value`` (anything JSON can hold) under ``key``."""
    text = json.dumps(value, sort_keys=True)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=text))
    else:
        row.value = text
