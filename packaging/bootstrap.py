#!/usr/bin/env python3
"""Set up Tallybook from a clean clone, then run the app or the checks (standard library only).

    python3 packaging/bootstrap.py run [TALLYBOOK ARGS...]   set up if needed, start the app
    python3 packaging/bootstrap.py test [PYTEST ARGS...]     set up if needed, run every check

Setting up means: the Qt system libraries on Debian/Ubuntu (listed in debian-packages.txt,
installed with apt-get as root or through sudo), then a virtual environment in ``.venv`` with
Tallybook and its test tools. The environment is rebuilt only when ``pyproject.toml`` changes,
so a second run starts at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tallybook-installed"
PACKAGES_FILE = ROOT / "packaging" / "debian-packages.txt"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
CHECKS = (
    ("ruff", ["ruff", "check", "app", "tests", "benchmarks", "packaging", "main.py"]),
    ("mypy", ["mypy"]),
    ("import contracts", ["lint-imports"]),
)


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in ("run", "test"):
        print("usage: python3 packaging/bootstrap.py run|test [ARGS...]", file=sys.stderr)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036 (this script runs before any check)
        print(
            f"Tallybook needs Python 3.11 or newer; this is {sys.version.split()[0]}.",
            file=sys.stderr,
        )
        return 1
    command, rest = argv[0], argv[1:]
    if not ensure_system_packages():
        return 1
    ensure_environment()
    if command == "run":
        return subprocess.call([str(BIN / "tallybook"), *rest], cwd=ROOT)
    return run_checks(rest)


def ensure_system_packages() -> bool:
    """Install the Qt libraries a fresh Debian/Ubuntu lacks; False when that is impossible."""
    if not sys.platform.startswith("linux") or shutil.which("dpkg-query") is None:
        return True
    wanted = [
        line.strip()
        for line in PACKAGES_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    missing = [name for name in wanted if not _installed(name)]
    if not missing:
        return True
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    print(f"Installing system libraries for Qt: {' '.join(missing)}", flush=True)
    if os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        return subprocess.call(install, env=env) == 0
    if shutil.which("sudo"):
        subprocess.run(["sudo", "apt-get", "update", "-qq"], check=False)
        return subprocess.call(["sudo", *install]) == 0
    print(f"Please install them as root: {' '.join(install)}", file=sys.stderr)
    return False


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return result.stdout.strip().endswith("install ok installed")


def ensure_environment() -> None:
    """Create ``.venv`` and install Tallybook into it, unless it is already up to date."""
    fingerprint = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == fingerprint and (BIN / "tallybook").exists():
        return
    if not (BIN / "python").exists():
        print("Creating the virtual environment in .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print("Installing Tallybook and its dependencies (once)", flush=True)
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(fingerprint)


def run_checks(pytest_args: list[str]) -> int:
    """Lint, type-check, check the import contracts, then the test suite; all must pass.

    pytest's own exit status is kept, so an empty run (status 5, no tests collected) fails.
    """
    failed = []
    for name, command in CHECKS:
        print(f"== {name}", flush=True)
        if subprocess.call([str(BIN / command[0]), *command[1:]], cwd=ROOT) != 0:
            failed.append(name)
    print("== tests", flush=True)
    chosen = any(a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in pytest_args)
    if not chosen:
        # One worker per core (pytest-xdist), each test file whole on one worker, so a
        # module's shared fixture (the packaged build) is made once.
        pytest_args = ["-n", "auto", "--dist", "loadfile", *pytest_args]
    status = subprocess.call([str(BIN / "python"), "-m", "pytest", *pytest_args], cwd=ROOT)
    if status != 0:
        failed.append(f"tests (pytest exit status {status})")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("All checks passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
