"""Run the test suite on each database backend, one after the other.

Usage: python scripts/runtests.py [BACKEND ...] [-- PYTEST ARGS]

BACKEND is sqlite, postgres or mysql (default: all three, in that order).
SQLite always runs. PostgreSQL and MariaDB/MySQL run when a short probe
reaches them with the settings the suite uses (tests/settings.py: PGHOST,
PGPORT, PGUSER, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD); an
unreachable one is skipped with a one-line reason, or counts as a failure
when REQUIRE_ALL_DBS=1.

The last line is the total over the backends, "total: N passed, N failed,
N skipped"; with SYNCTOOL_TEST_TOTALS=FILE the same counts are also appended
to FILE as JSON (one line per run), for .ci/run's summary.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB/MySQL"}
PROBE_TIMEOUT = 20

# Connects with exactly the settings the suite uses; prints one line on failure.
PROBE = """
import sys
try:
    import django
    from django.conf import settings
    django.setup()
    from django.db import connection
    connection.ensure_connection()
    connection.close()
except Exception as exc:
    lines = str(exc).strip().splitlines() or [""]
    print(f"{type(exc).__name__}: {lines[0]}".rstrip(": "))
    sys.exit(1)
"""

DRIVER_HINTS = {
    "postgres": "psycopg",
    "mysql": "MySQLdb",
}


def probe(backend: str) -> str | None:
    """None when ``backend`` is usable, else why not (one line)."""
    if backend == "sqlite":
        return None
    module = DRIVER_HINTS[backend]
    missing = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", f"import {module}"], capture_output=True, cwd=ROOT, check=False
    )
    if missing.returncode:
        if backend == "mysql":
            return (
                "mysqlclient is not installed (pip could not build it: it needs "
                "mysql_config from libmariadb-dev or libmysqlclient-dev)"
            )
        return f"the {module} driver is not installed"
    with tempfile.TemporaryDirectory(prefix="synctool-probe-") as tmp:
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="tests.settings",
            SYNCTOOL_TEST_DB=backend,
            SYNCTOOL_TEST_DIR=tmp,
        )
        try:
            result = subprocess.run(  # noqa: S603 - our own interpreter
                [sys.executable, "-c", PROBE],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
                timeout=PROBE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"no answer within {PROBE_TIMEOUT} s"
    if result.returncode:
        reason = (result.stdout.strip() or result.stderr.strip() or "unknown error").splitlines()
        return f"not reachable: {reason[-1]}"
    return None


def counts_from_junit(path: Path) -> dict:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own pytest's output
    except (OSError, ET.ParseError):
        return counts
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts["failed"] += failed
        counts["skipped"] += skipped
        counts["passed"] += tests - failed - skipped
    return counts


def run_pytest(backend: str, pytest_args: list[str]) -> tuple[int, dict, float]:
    with tempfile.TemporaryDirectory(prefix="synctool-junit-") as tmp:
        junit = Path(tmp) / "junit.xml"
        env = dict(os.environ, SYNCTOOL_TEST_DB=backend)
        started = time.monotonic()
        code = subprocess.call(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "pytest", f"--junitxml={junit}", *pytest_args],
            cwd=ROOT,
            env=env,
        )
        return code, counts_from_junit(junit), time.monotonic() - started


def django_version() -> str:
    try:
        import django
    except ImportError:
        return "not installed"
    return django.get_version()


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        backends, pytest_args = argv[:split], argv[split + 1 :]
    else:
        backends, pytest_args = argv, []
    backends = backends or ["sqlite", "postgres", "mysql"]
    unknown = [b for b in backends if b not in NAMES]
    if unknown:
        print(f"unknown backend(s): {', '.join(unknown)}; use {', '.join(NAMES)}")
        return 2
    require_all = os.environ.get("REQUIRE_ALL_DBS", "0") not in ("", "0", "no", "false")
    versions = f"Django {django_version()}, Python {platform.python_version()}"

    lines = []
    failed = False
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for backend in backends:
        name = NAMES[backend]
        reason = probe(backend)
        if reason is not None:
            if require_all:
                failed = True
                lines.append(f"FAILED   {name}: {reason} (REQUIRE_ALL_DBS=1)")
            else:
                lines.append(f"skipped  {name}: {reason}")
            print(lines[-1], flush=True)
            continue
        print(f"\n=== synctool tests on {name} ({versions}) ===", flush=True)
        code, counts, seconds = run_pytest(backend, pytest_args)
        for key in totals:
            totals[key] += counts[key]
        summary = (
            f"{counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped in {seconds:.0f} s"
        )
        if code == 0:
            lines.append(f"passed   {name}: {summary}")
        else:
            failed = True
            why = "no tests ran" if code == 5 else f"pytest exit status {code}"
            lines.append(f"FAILED   {name}: {summary} ({why})")

    print(f"\n=== synctool test summary ({versions}) ===")
    for line in lines:
        print(line)
    totals_file = os.environ.get("SYNCTOOL_TEST_TOTALS")
    if totals_file:
        with open(totals_file, "a") as handle:
            handle.write(json.dumps({"versions": versions, "failed_run": failed, **totals}) + "\n")
    print(
        f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
