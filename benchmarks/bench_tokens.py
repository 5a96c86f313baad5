"""Counting a 200-message conversation: Tallybook's counter against raw tiktoken, same run.

    .venv/bin/python benchmarks/bench_tokens.py

1. Cold count of the chat payload (new counter, new message objects, so hashing is included)
   against raw ``tiktoken`` ``encode_ordinary`` of the same 200 texts. Target: at most 1.10x.
2. Re-count after appending one message (warm cache) against a full cold re-count.
   Target: at least 20x faster.
Each figure is the best of several repeats, to keep the machine's noise out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from app.core.counting.encodings import get_encoding
from app.core.counting.tokens import TokenCounter
from app.core.messages import ChatMessage

MODEL = "gpt-4o"
REPEATS = 15
WORDS = [
    "the",
    "ledger",
    "balance",
    "token",
    "prompt",
    "completion",
    "cache",
    "model",
    "provider",
    "request",
    "stream",
    "reply",
    "cost",
    "credit",
    "rate",
    "budget",
    "refill",
    "export",
    "chart",
    "daily",
    "conversation",
    "message",
    "assistant",
    "user",
    "python",
    "qt",
    "sqlite",
    "decimal",
    "exact",
    "estimate",
    "window",
    "context",
    "tile",
    "image",
    "tool",
    "function",
    "call",
]
CODE = '''```python
def spend_tokens(session, spend, now=None):
    """Record one request."""
    rows = [line for line in spend.priced_lines()]
    return insert(rows)  # {n}
```'''


def conversation(seed: int = 1) -> list[tuple[str, str]]:
    """200 (role, text) turns: prose, lists and code, 20 to 800 words each."""
    rng = random.Random(seed)
    turns = []
    for index in range(200):
        role = "user" if index % 2 == 0 else "assistant"
        words = rng.randint(20, 200) if role == "user" else rng.randint(100, 800)
        text = " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."
        if role == "assistant" and rng.random() < 0.4:
            text += (
                "\n\n"
                + CODE.format(n=index)
                + "\n\n- first point\n- second point, 1,234.56 credits"
            )
        turns.append((role, text))
    return turns


def best(action: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    turns = conversation()
    texts = [text for _, text in turns]
    encoding = get_encoding("o200k_base")
    TokenCounter().count_chat(MODEL, [ChatMessage("user", "warm up")])

    raw = best(lambda: [encoding.encode_ordinary(text) for text in texts])
    cold = best(lambda: TokenCounter().count_chat(MODEL, [ChatMessage(r, t) for r, t in turns]))

    warm_counter = TokenCounter()
    history = [ChatMessage(role, text) for role, text in turns]
    warm_counter.count_chat(MODEL, history)
    appended = best(
        lambda: warm_counter.count_chat(
            MODEL, [*history, ChatMessage("user", f"one more {time.time()}")]
        )
    )
    tokens = TokenCounter().count_chat(MODEL, history).tokens
    cold_ratio, speedup = cold / raw, cold / appended
    print(f"conversation                      200 messages, {tokens:,} tokens ({MODEL})")
    print(f"raw tiktoken encode_ordinary      {raw * 1e3:8.2f} ms")
    print(
        f"tallybook cold chat count         {cold * 1e3:8.2f} ms  {cold_ratio:5.2f}x raw (<=1.10)"
    )
    print(
        f"re-count after one new message    {appended * 1e3:8.3f} ms  {speedup:5.0f}x faster (>=20)"
    )


if __name__ == "__main__":
    main()
