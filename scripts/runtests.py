"""Run the test suite on each database backend, one after the other.

Usage: python scripts/runtests.py [BACKEND ...] [-- PYTEST ARGS]

BACKEND is sqlite, postgres or mysql (default: all three, in that order).
SQLite always runs. PostgreSQL and MariaDB/MySQL run when a short probe
reaches them with the settings the suite uses (tests/settings.py: PGHOST,
PGPORT, PGUSER, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD); an
unreachable one is skipped with a one-line reason, or counts as a failure
when REQUIRE_ALL_DBS=1.

The backends run one after the other; TEST_JOBS=N runs up to N at once (each
has its own databases: a temporary directory for SQLite, its own server for
the others), with each run's output printed when it ends.

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


def start_pytest(backend: str, pytest_args: list[str], tmp: Path, quiet: bool) -> dict:
    """Start pytest on ``backend``; with ``quiet`` its output goes to a log file."""
    junit = tmp / f"junit-{backend}.xml"
    env = dict(os.environ, SYNCTOOL_TEST_DB=backend)
    command = [sys.executable, "-m", "pytest", f"--junitxml={junit}", *pytest_args]
    log = None
    if quiet:
        # Parallel runs: no shared .pytest_cache writes, output kept per backend.
        command[3:3] = ["-p", "no:cacheprovider"]
        log = open(tmp / f"pytest-{backend}.log", "wb")  # noqa: SIM115 - closed in finish_pytest
    process = subprocess.Popen(  # noqa: S603 - our own interpreter
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT if log else None
    )
    return {
        "backend": backend,
        "process": process,
        "junit": junit,
        "log": log,
        "started": time.monotonic(),
    }


def finish_pytest(run: dict) -> tuple[int, dict, float]:
    code = run["process"].wait()
    seconds = time.monotonic() - run["started"]
    if run["log"] is not None:
        run["log"].close()
        print(f"\n=== output of the {NAMES[run['backend']]} run ===", flush=True)
        sys.stdout.write(Path(run["log"].name).read_text(errors="replace"))
        sys.stdout.flush()
    return code, counts_from_junit(run["junit"]), seconds


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

    jobs = max(int(os.environ.get("TEST_JOBS", "1") or 1), 1)

    lines = {}
    failed = False
    runnable = []
    for backend in backends:
        name = NAMES[backend]
        reason = probe(backend)
        if reason is None:
            runnable.append(backend)
            continue
        if require_all:
            failed = True
            lines[backend] = f"FAILED   {name}: {reason} (REQUIRE_ALL_DBS=1)"
        else:
            lines[backend] = f"skipped  {name}: {reason}"
        print(lines[backend], flush=True)

    totals = {"passed": 0, "failed": 0, "skipped": 0}
    with tempfile.TemporaryDirectory(prefix="synctool-runtests-") as tmp:
        pending = list(runnable)
        while pending:
            batch, pending = pending[:jobs], pending[jobs:]
            if len(batch) > 1:
                shown = ", ".join(NAMES[b] for b in batch)
                print(f"\n=== synctool tests on {shown}, in parallel ({versions}) ===", flush=True)
            else:
                print(f"\n=== synctool tests on {NAMES[batch[0]]} ({versions}) ===", flush=True)
            runs = [start_pytest(b, pytest_args, Path(tmp), quiet=len(batch) > 1) for b in batch]
            for run in runs:
                backend = run["backend"]
                code, counts, seconds = finish_pytest(run)
                for key in totals:
                    totals[key] += counts[key]
                summary = (
                    f"{counts['passed']} passed, {counts['failed']} failed, "
                    f"{counts['skipped']} skipped in {seconds:.0f} s"
                )
                if code == 0:
                    lines[backend] = f"passed   {NAMES[backend]}: {summary}"
                else:
                    failed = True
                    why = "no tests ran" if code == 5 else f"pytest exit status {code}"
                    lines[backend] = f"FAILED   {NAMES[backend]}: {summary} ({why})"

    print(f"\n=== synctool test summary ({versions}) ===")
    for backend in backends:
        print(lines[backend])
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
