#!/usr/bin/env python3
"""Build Tallybook as a one-folder app with PyInstaller, and install it on Linux (stdlib only).

    python3 packaging/build.py                        build dist/tallybook/
    python3 packaging/build.py --dist DIR --work DIR  build elsewhere (the tests do)
    python3 packaging/build.py --install [--prefix ~/.local]    copy the build there, with its
                                                      command, menu entry, icons and metainfo
    python3 packaging/build.py --uninstall [--prefix ~/.local]  remove what --install wrote

The build runs ``packaging/tallybook.spec`` with the project's interpreter: this one inside a
virtual environment, otherwise ``.venv`` (set up by ``packaging/bootstrap.py`` when missing).
PyInstaller is installed there when missing, at the ``package`` extra's version range. The
result, ``dist/tallybook/tallybook``, is the app (no arguments) and the command line
(``tallybook --version``); ``tests/test_packaged_build.py`` builds it and runs it offscreen.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "tallybook.spec"
NAME = "tallybook"
APP_ID = "io.github.tallybook.Tallybook"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder"
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="install an existing build")
    action.add_argument("--uninstall", action="store_true", help="remove an installed build")
    parser.add_argument(
        "--prefix",
        type=Path,
        default=Path.home() / ".local",
        help="where --install/--uninstall work (default ~/.local; /usr/local, as root, for all)",
    )
    args = parser.parse_args(argv)
    app_dir = args.dist / NAME
    if args.install:
        install(app_dir, args.prefix.expanduser().absolute())
        return 0
    if args.uninstall:
        uninstall(args.prefix.expanduser().absolute())
        return 0
    python = project_python()
    ensure_pyinstaller(python)
    started = time.monotonic()
    build(python, args.dist, args.work)
    seconds = time.monotonic() - started
    size = sum(p.lstat().st_size for p in app_dir.rglob("*") if not p.is_symlink())
    print(f"Built {app_dir} in {seconds:.0f} s: {size / 2**20:.0f} MiB")
    started = time.monotonic()
    program = app_dir / (f"{NAME}.exe" if os.name == "nt" else NAME)
    result = subprocess.run([str(program), "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"The built program failed to start:\n{result.stderr}")
    print(f"{result.stdout.strip()} (--version in {time.monotonic() - started:.2f} s)")
    return 0


# --- building ------------------------------------------------------------------------------


def project_python() -> Path:
    """The interpreter to build with: this one inside a venv, else ``.venv`` (bootstrapped)."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.executable)
    sys.path.insert(0, str(ROOT / "packaging"))
    import bootstrap  # the same set-up as `python3 packaging/bootstrap.py test`

    if not bootstrap.ensure_system_packages():
        raise SystemExit("The system libraries Qt needs could not be installed.")
    bootstrap.ensure_environment()
    return bootstrap.BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_pyinstaller(python: Path) -> None:
    """Install PyInstaller (the ``package`` extra's range) unless ``python`` has it."""
    probe = [str(python), "-c", "import PyInstaller"]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = project["project"]["optional-dependencies"]["package"]
    requirement = next(r for r in extra if re.match(r"pyinstaller\b", r, re.IGNORECASE))
    print(f"Installing {requirement}", flush=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    subprocess.run([*pip, requirement], check=True)


def build(python: Path, dist: Path, work: Path) -> None:
    """Run the spec into ``dist/tallybook``; PyInstaller's log goes to ``work``.

    Raises:
        SystemExit: PyInstaller failed (the end of its log is printed).
    """
    work.mkdir(parents=True, exist_ok=True)
    log = work / "pyinstaller.log"
    command = [
        *(str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN"),
        *("--distpath", str(dist), "--workpath", str(work), str(SPEC)),
    ]
    print(f"Building {dist / NAME} with PyInstaller (log: {log})", flush=True)
    with log.open("w", encoding="utf-8") as out:
        status = subprocess.call(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if status != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        print("\n".join(lines[-40:]), file=sys.stderr)
        raise SystemExit(f"PyInstaller failed (exit status {status}); full log: {log}")


# --- installing on Linux -------------------------------------------------------------------


def installed_files(prefix: Path) -> dict[str, Path]:
    """Where --install puts each part, under ``prefix`` (the freedesktop.org layout)."""
    share = prefix / "share"
    return {
        "app": prefix / "lib" / NAME,
        "command": prefix / "bin" / NAME,
        "desktop": share / "applications" / f"{APP_ID}.desktop",
        "metainfo": share / "metainfo" / f"{APP_ID}.metainfo.xml",
        "icons": share / "icons" / "hicolor",
    }


def install(app_dir: Path, prefix: Path) -> None:
    """Copy the build to ``prefix/lib/tallybook``, link ``prefix/bin/tallybook``, and add the
    menu entry (its ``Exec`` the full path of that link), the metainfo and the hicolor icons."""
    if not sys.platform.startswith("linux"):
        raise SystemExit("--install is for Linux; elsewhere, copy dist/tallybook where you like.")
    if not (app_dir / NAME).is_file():
        raise SystemExit(f"No build at {app_dir}: run `python3 packaging/build.py` first.")
    places = installed_files(prefix)
    resources = app_dir / "_internal" / "resources"
    if places["app"].exists():
        shutil.rmtree(places["app"])
    shutil.copytree(app_dir, places["app"], symlinks=True)
    places["command"].parent.mkdir(parents=True, exist_ok=True)
    places["command"].unlink(missing_ok=True)
    places["command"].symlink_to(places["app"] / NAME)
    entry = (resources / "linux" / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    entry = re.sub(r"^(Exec|TryExec)=tallybook", rf"\1={places['command']}", entry, flags=re.M)
    places["desktop"].parent.mkdir(parents=True, exist_ok=True)
    places["desktop"].write_text(entry, encoding="utf-8")
    places["metainfo"].parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(resources / "linux" / f"{APP_ID}.metainfo.xml", places["metainfo"])
    for icon in (resources / "icons" / "hicolor").rglob(f"{APP_ID}.*"):
        target = places["icons"] / icon.relative_to(resources / "icons" / "hicolor")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(icon, target)
    _refresh_caches(prefix)
    print(f"Installed Tallybook under {prefix}:")
    for path in places.values():
        print(f"  {path}")
    if str(places["command"].parent) not in os.environ.get("PATH", "").split(os.pathsep):
        print(f"Add {places['command'].parent} to PATH to type `tallybook` in a terminal.")


def uninstall(prefix: Path) -> None:
    """Remove what :func:`install` wrote under ``prefix`` (the ledger and keys stay)."""
    places = installed_files(prefix)
    if places["app"].is_dir():
        shutil.rmtree(places["app"])
    for key in ("command", "desktop", "metainfo"):
        places[key].unlink(missing_ok=True)
    for icon in places["icons"].glob(f"*/apps/{APP_ID}.*"):
        icon.unlink()
    _refresh_caches(prefix)
    print(f"Removed Tallybook from {prefix}; the ledger and the keys are where they were.")


def _refresh_caches(prefix: Path) -> None:
    """Tell the desktop about the change, where its tools are installed (else it notices later)."""
    share = prefix / "share"
    for command in (
        ["update-desktop-database", "-q", str(share / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(share / "icons" / "hicolor")],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, capture_output=True, check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
