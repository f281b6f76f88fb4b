"""The Makefile's ``test`` target, run by make with a fake virtualenv whose
``python`` records what it is asked (and says MySQLdb is not installed): it
installs what the backends named need, and no more."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

FAKE_PYTHON = """#!/bin/sh
printf '%s\\n' "$*" >> "{log}"
case "$*" in *"import MySQLdb"*) exit 1 ;; esac
exit 0
"""


MAKEFILE_VARIABLES = {
    "MFLAGS", "PYTHON", "VENV", "DJANGO", "REQUIRE_ALL_DBS", "BACKENDS", "PYTEST_ARGS",
    "BENCH_ARGS", "TEST_JOBS",
}  # fmt: skip


def make_test(tmp_path: Path, backends: str) -> list[str]:
    """``make test BACKENDS=...`` with the fake virtualenv; the calls of its python."""
    venv = tmp_path / f"venv-{backends.replace(' ', '-')}"
    log = venv / "calls.log"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON.format(log=log))
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    # A make running this suite (.ci/run's `make test DJANGO=...`) exports its
    # command-line variables to us: the make started here must not see them.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MAKE") and key not in MAKEFILE_VARIABLES
    }
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "test", f"BACKENDS={backends}",
         f"VENV={venv}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return log.read_text().splitlines()


def test_make_test_for_sqlite_installs_only_what_sqlite_needs(tmp_path):
    calls = make_test(tmp_path, "sqlite")
    assert calls[0] == "-m pip install --quiet -e .[test]"
    assert calls[-1] == "scripts/runtests.py sqlite --"
    assert not [call for call in calls if "mysql" in call.lower()], calls


def test_make_test_with_mysql_builds_mysqlclient(tmp_path):
    calls = make_test(tmp_path, "sqlite mysql")
    assert "-m pip install --quiet mysqlclient>=2.2" in calls
    assert calls[-1] == "scripts/runtests.py sqlite mysql --"
