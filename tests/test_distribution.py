"""`pip install .` (a wheel, not the editable install the README's commands use) carries every
module, the migrations and the shipped resources, and the app finds them where the wheel puts
them: ``resources/`` sits at the top of the repository (the design card's layout) and the wheel
maps it into the package as ``app/resources``.

The wheel is built offline from a copy of the source (nothing is written into the repository),
with the setuptools the test extra installs; then it is unpacked and imported in a fresh
interpreter, ahead of the editable install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_ELSEWHERE = {"screenshots"}
"""README images: the repository shows them, an installed app has no use for them."""
BUILD_ONLY_SUFFIXES = {".ico", ".icns"}
"""Icons for the Windows and macOS builds (packaging/tallybook.spec), not read at run time."""

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
import app
from app.core import paths
from app.core.providers import registry
from app.core.storage.db import Database

database = Database(paths.database_path(sys.argv[1]))
with database.read() as session:
    menu = registry.model_menu(session)
database.close()
print(json.dumps({
    "app": app.__file__,
    "resources": str(paths.RESOURCES_DIR),
    "icon": paths.resource_path("icons/tallybook.svg").is_file(),
    "menu": sum(len(models) for _, models in menu),
}))
"""
"""Opens a new ledger (every migration runs from the wheel) and reads the model menu and icon."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the source and unpacked as pip would install it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", *SHIPPED_ELSEWHERE)
    for folder in ("app", "resources"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "main.py"):
        shutil.copy2(ROOT / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*pip_wheel, "--no-index", "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("tallybook-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(work / "site")
    return work / "site"


def files_under(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_has_every_module_of_the_source(site: Path) -> None:
    source = {name for name in files_under(ROOT / "app") if name.endswith(".py")}
    wheel = {name for name in files_under(site / "app") if name.endswith(".py")}
    assert wheel == source  # a package missing from pyproject's list would be missing here
    assert (site / "app" / "core" / "storage" / "migrations" / "script.py.mako").is_file()


def test_the_wheel_has_every_resource_the_app_reads(site: Path) -> None:
    shipped = {
        name
        for name in files_under(ROOT / "resources")
        if name.split("/")[0] not in SHIPPED_ELSEWHERE
        and Path(name).suffix not in BUILD_ONLY_SUFFIXES
    }
    assert files_under(site / "app" / "resources") == shipped
    assert "model_menu.json" in shipped and "icons/tallybook.svg" in shipped


def test_the_installed_app_finds_its_resources_and_migrations(site: Path, tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(site)}  # ahead of the editable install
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environment,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["app"]).is_relative_to(site)
    assert Path(found["resources"]) == site / "app" / "resources"
    assert found["icon"]
    assert found["menu"] > 0
