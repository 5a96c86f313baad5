"""A process that meters chat requests until it is killed (tests/core/test_crash_safety.py).

python -m tests.support.crash_child LEDGER ENDPOINT_ID RUN
"""

from __future__ import annotations

import sys
from itertools import count
from pathlib import Path

from app.core import conversations
from app.core.chats import Turn
from app.core.keys import ApiKey
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, MeteringClient
from app.core.storage.db import Database


def main(ledger: str, endpoint: str, run: str) -> None:
    db = Database(Path(ledger))
    client = MeteringClient(db, key_for=lambda _: ApiKey("crash-test"), save_every=0.05)
    with db.write() as session:
        conversation = conversations.create_conversation(session, title=f"run {run}").id
    print("ready", flush=True)
    for n in count():
        request = ChatRequest(
            endpoint,
            "gpt-4o-mini",
            (ChatMessage("user", f"crash-{run}-{n} tell me more"),),
            hooks=Turn(conversation),
        )
        for _ in client.stream(request):
            pass


if __name__ == "__main__":
    main(*sys.argv[1:4])
