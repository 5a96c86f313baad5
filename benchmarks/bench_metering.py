"""200 streamed replies through the metering client against the same requests with raw httpx2.

    .venv/bin/python benchmarks/bench_metering.py [--replies 200] [--delay 0.002] [--words 50]

Both sides talk to the emulator on 127.0.0.1, run as its own process (``tallybook emulator``) so
its work never competes with the measured client for the GIL. The raw side sends the identical
Chat Completions request with httpx2 and reads the stream to its end; the metering side also
counts and prices the prompt, journals the request (a committed write), decodes every event and
settles the ledger (a second committed write), in WAL with ``synchronous=FULL``.

Two pacings are measured: the emulator sending a chunk every ``--delay`` seconds (a provider
streaming much faster than any real one: 500 chunks/s by default), and no delay at all, which
shows the metering work alone. Time to first token is measured on both sides.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2

from app.core.keys import ApiKey
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, Metered, MeteringClient
from app.core.providers import registry
from app.core.providers.base import TextDelta
from app.core.storage.db import Database

MODEL = "gpt-4o-mini"


def run_raw(url: str, body: dict[str, object], replies: int) -> tuple[list[float], list[float]]:
    totals, firsts = [], []
    with httpx2.Client(timeout=60) as http:
        for _ in range(replies):
            start = time.perf_counter()
            first = None
            with http.stream(
                "POST",
                f"{url}/v1/chat/completions",
                json=body,
                headers={"Authorization": "Bearer demo"},
            ) as response:
                for chunk in response.iter_bytes():
                    if first is None and b'"content": "' in chunk.replace(b'":"', b'": "'):
                        first = time.perf_counter() - start
            totals.append(time.perf_counter() - start)
            firsts.append(first or totals[-1])
    return totals, firsts


def run_metered(
    client: MeteringClient, request: ChatRequest, replies: int
) -> tuple[list[float], list[float]]:
    totals, firsts = [], []
    for _ in range(replies):
        start = time.perf_counter()
        first = None
        for item in client.stream(request):
            if first is None and isinstance(item, TextDelta):
                first = time.perf_counter() - start
            if isinstance(item, Metered):
                assert item.status == "complete" and not item.estimated
        totals.append(time.perf_counter() - start)
        firsts.append(first or totals[-1])
    return totals, firsts


def measure(delay: float, replies: int, words: int) -> dict[str, float]:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", f"/words {words}"))
    body = {
        "model": MODEL,
        "messages": [m.to_openai() for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with tempfile.TemporaryDirectory() as folder, emulator_process(delay) as url:
        db = Database(Path(folder) / "bench.sqlite3")
        client = MeteringClient(db, key_for=lambda _: ApiKey("demo"))
        with db.write() as session:
            registry.add_endpoint(session, "bench", url + "/v1")
        request = ChatRequest("custom-bench", MODEL, messages)
        # Same emulator, same connection reuse: one warm-up each, then alternate in blocks.
        run_raw(url, body, 3)
        run_metered(client, request, 3)
        raw_totals: list[float] = []
        raw_firsts: list[float] = []
        ours_totals: list[float] = []
        ours_firsts: list[float] = []
        block = max(1, replies // 10)
        for _ in range(replies // block):
            for side, totals, firsts in (
                (lambda: run_raw(url, body, block), raw_totals, raw_firsts),
                (lambda: run_metered(client, request, block), ours_totals, ours_firsts),
            ):
                t, f = side()
                totals += t
                firsts += f
        client.close()
        db.close()
    return {
        "raw": statistics.mean(raw_totals),
        "ours": statistics.mean(ours_totals),
        "raw_first": statistics.median(raw_firsts),
        "ours_first": statistics.median(ours_firsts),
    }


@contextlib.contextmanager
def emulator_process(delay: float) -> Iterator[str]:
    """``tallybook emulator`` in a child process, ready to serve."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    main_py = Path(__file__).resolve().parent.parent / "main.py"
    child = subprocess.Popen(
        [
            sys.executable,
            str(main_py),
            "emulator",
            "--port",
            str(port),
            "--chunk-delay",
            str(delay),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx2.get(f"{url}/v1/models", headers={"Authorization": "Bearer demo"}, timeout=1)
                break
            except httpx2.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        child.terminate()
        child.wait()


def report(
    label: str, figures: dict[str, float], names: tuple[str, str] = ("raw", "metered")
) -> None:
    raw, ours = figures["raw"], figures["ours"]
    added_first = (figures["ours_first"] - figures["raw_first"]) * 1e3
    print(
        f"{label:<34} {names[0]} {raw * 1e3:7.2f} ms   {names[1]} {ours * 1e3:7.2f} ms   "
        f"ratio {ours / raw:5.3f}x   first token +{added_first:5.2f} ms"
    )


Measure = Callable[[float, int, int], dict[str, float]]


def run(
    doc: str, measure: Measure, unpaced: str, names: tuple[str, str] = ("raw", "metered")
) -> None:
    """Parse the shared options, then measure paced and unpaced and print both."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.002)
    parser.add_argument("--words", type=int, default=50)
    args = parser.parse_args()
    print(f"{args.replies} streamed replies of {args.words} words, {MODEL}, per reply (mean):")
    paced = f"paced, {args.delay * 1e3:g} ms per chunk"
    report(paced, measure(args.delay, args.replies, args.words), names)
    report(unpaced, measure(0.0, args.replies, args.words), names)


def main() -> None:
    run(__doc__ or "", measure, "unpaced (metering work alone)")


if __name__ == "__main__":
    main()
