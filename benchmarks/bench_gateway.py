"""What the local endpoint adds to a tool's streamed request, against the same request sent raw.

    .venv/bin/python benchmarks/bench_gateway.py [--replies 200] [--delay 0.002] [--words 50]

The emulator runs in its own process, and so does the endpoint (``Gateway`` forwarding to that
emulator), as they would for a user. The same raw httpx2 client sends the identical streamed
Chat Completions request to the emulator directly, then through the endpoint, alternating in
blocks; the difference is everything Tallybook does for a tool: parse and count the request,
journal it, forward it, relay every event, settle the ledger, check the alerts.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
from bench_metering import MODEL, emulator_process, run, run_raw

from app.core.keys import ApiKey
from app.core.metering.client import MeteringClient
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.gateway import Gateway, Upstreams

TOKEN = "demo"  # the raw client's key works as the endpoint's access token too
NAMES = ("direct", "through Tallybook")


def serve_gateway(emulator_url: str, port: int, folder: str) -> None:
    """The child process: a Gateway on ``port`` forwarding to the emulator."""
    db = Database(Path(folder) / "bench.sqlite3")
    with db.write() as session:
        endpoint = registry.add_endpoint(session, "bench", emulator_url + "/v1")
    client = MeteringClient(db, key_for=lambda _: ApiKey("demo"))
    upstreams = Upstreams(endpoint.id, endpoint.id)
    Gateway(db, client, token=TOKEN, upstreams=upstreams, port=port).serve_forever()


@contextlib.contextmanager
def gateway_process(emulator_url: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", emulator_url, str(port), folder]
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                with contextlib.suppress(httpx2.HTTPError):
                    httpx2.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
                    break
                time.sleep(0.05)
            yield url
        finally:
            child.terminate()
            child.wait()


def measure(delay: float, replies: int, words: int) -> dict[str, float]:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"/words {words}"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with emulator_process(delay) as direct, gateway_process(direct) as through:
        run_raw(direct, body, 3)
        run_raw(through, body, 3)
        raw: list[float] = []
        raw_first: list[float] = []
        ours: list[float] = []
        ours_first: list[float] = []
        block = max(1, replies // 10)
        for _ in range(replies // block):
            for url, totals, firsts in ((direct, raw, raw_first), (through, ours, ours_first)):
                t, f = run_raw(url, body, block)
                totals += t
                firsts += f
    return {
        "raw": statistics.mean(raw),
        "ours": statistics.mean(ours),
        "raw_first": statistics.median(raw_first),
        "ours_first": statistics.median(ours_first),
    }


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve_gateway(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    run(__doc__ or "", measure, "unpaced (the endpoint's work alone)", NAMES)


if __name__ == "__main__":
    main()
