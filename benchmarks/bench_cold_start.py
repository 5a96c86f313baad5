"""Cold start: from launching ``tallybook`` to its main window painted, on a real X display.

    .venv/bin/python benchmarks/bench_cold_start.py [--ledger PATH] [--repeats 5]

Each start is a new process running the real entry point (``python main.py --data-dir DIR``, as
the ``tallybook`` command does), under Xvfb (started here when there is no ``DISPLAY``; the
offscreen platform paints nothing to time); the child closes the window through the normal path
once everything is in. Three marks per start:

- **frame painted**: the window's first paint (title, menus, the status line "Opening the
  ledger…"; the core is still loading on a worker thread). The target: under 1 s.
- **workspace painted**: the ledger opened and the window filled (conversation list, chat,
  composer) and painted.
- **every load answered**: the list's first page, the balance, the chat's menu and quote.

Measured on an empty ledger and, with ``--ledger`` (e.g. the 1,000,000-transaction demo ledger;
copied, never touched), on a big one. Baseline in the same run: the same interpreter opening an
empty ``QMainWindow`` of the same size (Python and Qt's own start, which no app can go below).
Median of ``--repeats``.
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
MARKS = ("frame", "workspace", "loaded")
CHILD = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class Marks(QObject):
    \"\"\"Prints the time of the window's first paint, then of its workspace's.\"\"\"

    def __init__(self):
        super().__init__()
        self.seen = set()

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            kind = type(watched).__name__
            if kind in ("MainWindow", "QMainWindow") and "frame" not in self.seen:
                self.mark("frame")
                if kind == "QMainWindow":  # the baseline: nothing more to wait for
                    self.mark("workspace")
                    QTimer.singleShot(0, lambda: close_when_loaded(watched))
            elif kind == "Workspace" and "workspace" not in self.seen:
                self.mark("workspace")
                QTimer.singleShot(0, lambda: close_when_loaded(watched.window()))
        return False

    def mark(self, name):
        self.seen.add(name)
        print(f"{name} {time.time():.6f}", flush=True)

def close_when_loaded(window):
    workspace = getattr(window, "_workspace", None)  # the baseline's window has no loads
    if workspace is not None:
        runners = (workspace.context.reads, workspace.context.tasks)
        if any(runner.pending for runner in runners):
            QTimer.singleShot(5, lambda: close_when_loaded(window))
            return
    print(f"loaded {time.time():.6f}", flush=True)
    window.close()

app = QApplication(sys.argv[:1])
marks = Marks()
app.installEventFilter(marks)
if sys.argv[1] == "baseline":
    window = QMainWindow()
    window.resize(1180, 760)
    window.show()
    sys.exit(app.exec())
from app.cli import main
sys.exit(main(["--data-dir", sys.argv[1]]))
"""


def start_once(data_dir: Path | None, env: dict[str, str]) -> tuple[float, ...]:
    """Seconds from spawning the process to each of :data:`MARKS`."""
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
    marks = dict(line.split() for line in result.stdout.splitlines() if line.split()[0] in MARKS)
    if set(marks) != set(MARKS):
        raise RuntimeError(f"the window was not painted and filled:\n{result.stderr[-2000:]}")
    return tuple(float(marks[name]) - spawned for name in MARKS)


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
            figures[name] = [statistics.median(run[i] for run in runs) for i in range(len(MARKS))]
        baseline = figures[cases[0][0]][0]
        for name, (frame, workspace, loaded) in figures.items():
            print(
                f"cold start, {name}: frame painted {frame * 1e3:.0f} ms (target"
                f" < {TARGET_S * 1e3:.0f} ms, {frame / baseline:.1f}x Qt's own empty window);"
                f" workspace painted {workspace * 1e3:.0f} ms; every load answered"
                f" {loaded * 1e3:.0f} ms"
            )


if __name__ == "__main__":
    main()
