"""The distribution: the wheel of the README's git URL (a git copy of this
checkout, cloned by pip) carries the three packages and nothing else (no
tests, example, docs, databases or media), has the extras the README's
install commands name, and installs into a clean virtualenv where ``import
synctool`` works (what the README's install from a checkout does).

Building needs setuptools from PyPI (pip's build isolation); when the
network is not there, the tests are skipped with the reason.
"""

import email.parser
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.docblocks import code_blocks

ROOT = Path(__file__).resolve().parent.parent
# The wheel does not depend on the database: build it once, in the SQLite run.
pytestmark = pytest.mark.skipif(
    os.environ.get("SYNCTOOL_TEST_DB", "sqlite") != "sqlite",
    reason="the packaging tests run with SQLite only (they do not use a database)",
)
OFFLINE_MARKERS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found for setuptools",
    "Could not find a version that satisfies the requirement setuptools",
    "ProxyError",
)
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    "_build",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
)


def pip(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fail_or_skip(what: str, result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    if any(marker in output for marker in OFFLINE_MARKERS):
        pytest.skip(f"{what} needs PyPI, which is not reachable: {output.strip()[-300:]}")
    pytest.fail(f"{what} failed:\n{output[-4000:]}")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of this checkout, with strays a careless configuration would pick
    up, committed (strays too) as branch ``main`` of a git repository of its own."""
    source = tmp_path_factory.mktemp("packaging") / "source"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)
    (source / "synctool" / "stray.sqlite3").write_bytes(b"SQLite format 3\x00")
    (source / "synctool" / "media").mkdir()
    (source / "synctool" / "media" / "photo.png").write_bytes(b"\x89PNG")
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "add", "-f", "synctool/stray.sqlite3", "synctool/media/photo.png"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "copy"],
    ):
        subprocess.run(command, cwd=source, check=True, capture_output=True)
    return source


def readme_install_commands(source: Path) -> tuple[list[str], list[str]]:
    """The README's two install commands (from a checkout, from a git URL), each
    without its ``pip install``, with what a reader replaces replaced: the
    checkout's path and the git host, by ``source`` (a git repository)."""
    (block,) = [b for b in code_blocks("README.rst") if b.first_line.startswith("pip install")]
    commands = []
    for line in block.commands:
        line = line.replace("/path/to/synctool", str(source))
        line = line.replace("https://YOUR-GIT-HOST/synctool.git", f"file://{source}")
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], line
        commands.append(words[2:])
    from_path, from_git = commands
    return from_path, from_git


@pytest.fixture(scope="module")
def wheel(source) -> Path:
    """The wheel of the README's git URL (cloned, branch main, built as written;
    ``pip wheel`` where the README says ``pip install``)."""
    _, from_git = readme_install_commands(source)
    out = source.parent / "dist"
    result = pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), *from_git)
    if result.returncode:
        fail_or_skip("building the wheel", result)
    (built,) = out.glob("django_synctool-*.whl")
    return built


def requires_list(metadata) -> list[str]:
    return [" ".join(value.split()) for value in metadata.get_all("Requires-Dist")]


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_carries_the_three_packages(wheel):
    names = wheel_names(wheel)
    for required in (
        "synctool/__init__.py",
        "synctool/client/__init__.py",
        "synctool/server/__init__.py",
        "synctool/wire/__init__.py",
        "synctool/backends/__init__.py",
        "synctool/routing.py",
        "synctool/management/commands/sync_data.py",
        "synctool_contrib/__init__.py",
        "synctool_contrib/postgres.py",
        "synctools/__init__.py",
        "synctools/client.py",
        "synctools/routing.py",
    ):
        assert required in names
    packages = {name.split("/")[0] for name in names if "/" in name}
    assert {p for p in packages if not p.endswith(".dist-info")} == {
        "synctool",
        "synctool_contrib",
        "synctools",
    }


def test_wheel_carries_no_tests_examples_databases_or_media(wheel):
    for name in wheel_names(wheel):
        top = name.split("/")[0]
        assert top not in {"tests", "example", "docs", "benchmarks", "scripts"}, name
        assert not name.endswith((".sqlite3", ".db", ".png", ".jpg", ".pyc")), name
        assert "/media/" not in name, name


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    import synctool

    assert metadata["Name"] == "django-synctool"
    assert metadata["Version"] == synctool.__version__
    requires = " ".join(metadata.get_all("Requires-Dist"))
    for dependency in ("Django", "requests", "django-appconf", "pluggy", "orjson", "ijson"):
        assert dependency in requires
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"postgres", "mysql", "s3", "scrub", "tasks", "celery", "test", "docs"} <= extras
    # The extras the README's install commands name exist, with what they install.
    for command in readme_install_commands(Path("/src")):
        for extra in command[0].split("[")[1].split("]")[0].split(","):
            assert extra in extras, command
    assert any('psycopg[binary]>=3.1; extra == "postgres"' in r for r in requires_list(metadata))
    # The README is the long description: the two commands are on PyPI too.
    assert "make demo" in metadata.get_payload()


def test_wheel_installs_into_a_clean_virtualenv(wheel, tmp_path):
    """What ``pip install /path/to/synctool`` does (build this wheel, install it
    with its dependencies), without building twice; the README's extras are
    checked in the metadata above."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    result = pip("--python", str(python), "install", "--quiet", str(wheel))
    if result.returncode:
        fail_or_skip("installing the wheel", result)
    check = imports_in(python, tmp_path)
    assert check.returncode == 0, check.stderr
    version, location = check.stdout.split()
    assert location.startswith(str(venv)), location


def imports_in(python: Path, cwd: Path, extra: str = "pass") -> subprocess.CompletedProcess:
    """Every core module imports in the virtualenv of ``python`` (without the
    optional extras but ``extra``: no Faker, boto3 or mysqlclient there)."""
    return subprocess.run(
        [
            str(python),
            "-c",
            "import django; from django.conf import settings; "
            "settings.configure(INSTALLED_APPS=['synctool']); django.setup(); "
            "import synctool, synctools.client, synctools.routing, synctool_contrib.sqlite; "
            "import synctool.server.views, synctool.urls, synctool.checks, synctool.client.loader; "
            "import synctool.management.commands.sync_data; "
            f"{extra}; "
            "print(synctool.__version__, synctool.__file__)",
        ],
        cwd=cwd,
        env={
            k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
        },
        capture_output=True,
        text=True,
        check=False,
    )
