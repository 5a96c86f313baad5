"""Cold start: from launching ``tallybook`` to its main window painted, on a real X display.

    .venv/bin/python benchmarks/bench_cold_start.py [--ledger PATH] [--repeats 5]

Each start is a new process running the real entry point (``python main.py --data-dir DIR``, as
the ``tallybook`` command does), under Xvfb (started here when there is no ``DISPLAY``; the
offscreen platform paints nothing to time), until the main window's first paint; the child then
closes it through the normal path. Measured on an empty ledger and, with ``--ledger`` (e.g. the
1,000,000-transaction demo ledger; copied, never touched), on a big one. Baseline in the same
run: the same interpreter opening an empty ``QMainWindow`` of the same size (Python and Qt's own
start, which no app can go below). Median of ``--repeats``. Target: under 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0
CHILD = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
            print(f"painted {time.time():.6f}", flush=True)
            QApplication.instance().removeEventFilter(self)
            QTimer.singleShot(0, lambda: close_when_loaded(watched))
        return False

def close_when_loaded(window):
    context = getattr(window, "context", None)  # the baseline's window has no loads
    if context is not None and (context.reads.pending or context.tasks.pending):
        QTimer.singleShot(5, lambda: close_when_loaded(window))
        return
    print(f"loaded {time.time():.6f}", flush=True)
    window.close()

app = QApplication(sys.argv[:1])
watch = FirstPaint()
app.installEventFilter(watch)
if sys.argv[1] == "baseline":
    window = QMainWindow()
    window.resize(1180, 760)
    window.show()
    sys.exit(app.exec())
from app.cli import main
sys.exit(main(["--data-dir", sys.argv[1]]))
"""


def start_once(data_dir: Path | None, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning the process to its main window's first paint, and until every
    load the window started has answered."""
    argument = "baseline" if data_dir is None else str(data_dir)
    spawned = time.time()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, argument],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    marks = dict(line.split() for line in result.stdout.splitlines() if line[:1] in "pl")
    if "painted" not in marks or "loaded" not in marks:
        raise RuntimeError(f"no window was painted:\n{result.stderr[-2000:]}")
    return float(marks["painted"]) - spawned, float(marks["loaded"]) - spawned


@contextmanager
def x_display() -> Iterator[dict[str, str]]:
    """An environment with a real X display: the session's, or an Xvfb started for the run."""
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    if env.get("DISPLAY"):
        yield env
        return
    if shutil.which("Xvfb") is None:
        raise SystemExit("no DISPLAY and no Xvfb: `apt-get install xvfb`, or run under a desktop")
    display = f":{os.getpid() % 400 + 100}"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # Xvfb takes a moment to accept clients
        yield {**env, "DISPLAY": display}
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, help="a big ledger to start on (copied)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, x_display() as env:
        env["XDG_CONFIG_HOME"] = str(Path(folder) / "config")  # none of the user's settings
        empty = Path(folder) / "empty"
        cases: list[tuple[str, Path | None]] = [("Qt's own empty window", None)]
        cases.append(("Tallybook, empty ledger", empty))
        if args.ledger is not None:
            big = Path(folder) / "big"
            big.mkdir()
            shutil.copy(args.ledger, big / "tallybook.sqlite3")
            cases.append((f"Tallybook, {args.ledger.name} (copied)", big))
        figures = {}
        for name, data_dir in cases:
            start_once(data_dir, env)  # creates or upgrades the ledger; warms the file cache
            runs = [start_once(data_dir, env) for _ in range(args.repeats)]
            figures[name] = tuple(statistics.median(run[i] for run in runs) for i in (0, 1))
        baseline = figures[cases[0][0]][0]
        for name, (painted, loaded) in figures.items():
            versus = f", {painted / baseline:.1f}x Qt's own" if painted is not baseline else ""
            print(
                f"cold start to a painted window, {name}: {painted * 1e3:.0f} ms"
                f" (target < {TARGET_S * 1e3:.0f} ms{versus}); every load answered"
                f" {loaded * 1e3:.0f} ms"
            )


if __name__ == "__main__":
    main()
