#!/usr/bin/env python
"""The synctool benchmark: synctool end to end, side by side with
``dumpdata`` + ``loaddata`` and ``psql \\copy`` on the same data.

For each backend it builds N Post rows (and N/100 Blog rows) in a "server"
database, then:

- starts gunicorn (its own process, 127.0.0.1) serving that database and
  runs ``manage.py sync_data blog`` (its own process) into an empty
  "client" database; wall time of the client process, peak RSS of the
  client (``wait4``) and of the gunicorn worker (``VmHWM``);
- ``dumpdata`` to a file, then ``loaddata`` into an empty database;
- on PostgreSQL, ``psql \\copy`` out to files, then in to an empty database;

verifies a digest of every row of every copy against the source (exact,
microseconds included; dumpdata is only expected to match to the
millisecond) and prints one table. Exit status 1 when a digest differs.

    .venv/bin/python benchmarks/run.py --rows 200000 --backend both --repeat 3
    .venv/bin/python benchmarks/run.py --rows 20000 --smoke        # CI: digests only
    .venv/bin/python benchmarks/run.py --rows 200000 --natural-keys --skip-dumpdata --skip-copy

PostgreSQL: ``PGHOST``/``PGPORT``/``PGUSER`` (default 127.0.0.1, 5432,
postgres, trust auth); databases are named ``bench_<pid>_*`` and dropped at
the end. SQLite files live in a temporary directory.
"""

import argparse
import compileall
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SETTINGS = "benchmarks.bench_project.settings"
MIGRATE = ["migrate", "--run-syncdb", "-v", "0"]
SERVER_SETTINGS = "benchmarks.bench_project.server_settings"
CLIENT_SETTINGS = "benchmarks.bench_project.client_settings"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


LEGEND = """\
seconds: wall time of the client process (synctool: sync_data, Django start-up included;
  dump+load and psql copy: the two steps added). RSS client: peak of sync_data / loaddata /
  psql in (wait4). RSS server: peak VmHWM of the gunicorn worker / dumpdata / psql out.
  CPU: user+system seconds of those processes (not the database server's). CPU all: busy
  CPU seconds of the whole machine during the sync (the database server included; 2 cores
  can give at most 2 x seconds).
speedup vs dump+load: dumpdata+loaddata seconds / these seconds (goal: PostgreSQL >= 25x,
  SQLite >= 10x). time / psql copy: these seconds / psql copy seconds (goal <= 3x).
load: 1-minute load average when the run started (other work on the machine skews times)."""


class BenchError(Exception):
    pass


@dataclass
class Row:
    backend: str
    method: str
    rows: int
    seconds: float
    rss_client_kb: int | None = None
    rss_server_kb: int | None = None
    cpu_client: float | None = None
    cpu_server: float | None = None
    digest: str = "-"
    # "sync", "dump" (dumpdata+loaddata), "copy" (psql out+in), "part" (one half)
    kind: str = "sync"
    load: float | None = None  # 1-minute load average when the run started
    cpu_machine: float | None = None  # busy CPU seconds of the whole machine (databases too)


# -- processes ---------------------------------------------------------------


def compile_sources() -> None:
    """Write the bytecode of synctool and the bench project, as installing a
    package does. Otherwise, where ``PYTHONDONTWRITEBYTECODE`` is set, every
    measured process compiles them again (0.1-0.2 s of CPU each time)."""
    for folder in ("synctool", "synctool_contrib", "benchmarks"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def django_env(settings: str, database: dict, **extra) -> dict:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings
    env["BENCH_DATABASE"] = json.dumps(database)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({key: str(value) for key, value in extra.items() if value is not None})
    return env


def run(cmd: list[str], env: dict | None, log: Path) -> str:
    """Run ``cmd`` to completion; return its stdout; raise with its output on failure."""
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    with open(log, "a") as handle:
        handle.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
    if done.returncode:
        raise BenchError(f"{' '.join(cmd[:6])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def run_timed(cmd: list[str], env: dict | None, log: Path) -> tuple[float, int, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in KiB, CPU seconds) measured by the OS."""
    with open(log, "a") as handle:
        handle.write(f"$ {' '.join(cmd)}\n")
        handle.flush()
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=handle, stderr=handle)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchError(f"{' '.join(cmd[:6])} failed ({process.returncode}):\n{tail}")
    return seconds, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float | None:
    """CPU seconds every process of the machine has spent busy so far (Linux)."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def manage(args: list[str], settings: str, database: dict, log: Path, **extra) -> str:
    return run([PYTHON, "-m", "django", *args], django_env(settings, database, **extra), log)


def py_spy() -> str:
    """py-spy from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise BenchError("--profile needs py-spy: pip install py-spy")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving the server database; reads its workers' VmHWM and CPU."""

    def __init__(self, database: dict, options, log: Path, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/sync/"
        env = django_env(
            SERVER_SETTINGS,
            database,
            BENCH_CHUNK_SIZE=options.chunk_size,
            BENCH_NO_GZIP="1" if options.no_gzip else None,
            BENCH_PATCHES=",".join(options.patch) or None,
            BENCH_NATURAL_KEYS="1" if options.natural_keys else None,
        )
        cmd = [
            PYTHON,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--timeout",
            "1800",
            "--graceful-timeout",
            "5",
            "benchmarks.bench_project.wsgi:application",
        ]
        self.log = open(log, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited; see {log}")
            try:
                urllib.request.urlopen(self.url, timeout=2)  # answers 401: it is up
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BenchError(f"gunicorn did not start; see {log}") from None
                time.sleep(0.1)
        # Every worker must have booted (loaded Django) before we measure.
        deadline = time.monotonic() + 60
        while len(self.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    @staticmethod
    def _status(pid: int, key: str) -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def cpu(self) -> dict[int, float]:
        seconds = {}
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return seconds

    def peak_rss_kb(self) -> int:
        return max((self._status(pid, "VmHWM") for pid in self.workers()), default=0)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# -- backends ----------------------------------------------------------------


class Sqlite:
    name = "sqlite"

    def __init__(self, tmp: Path, log: Path):
        self.tmp = tmp
        self.log = log

    def settings(self, db: str) -> dict:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(self.tmp / f"{db}.sqlite3")}

    def create_template(self) -> None:
        manage(MIGRATE, SETTINGS, self.settings("template"), self.log)

    def fresh(self, db: str) -> None:
        self.drop(db)
        shutil.copyfile(self.tmp / "template.sqlite3", self.tmp / f"{db}.sqlite3")

    def drop(self, db: str) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            (self.tmp / f"{db}.sqlite3{suffix}").unlink(missing_ok=True)

    def settle(self, db: str) -> None:
        pass

    def cleanup(self) -> None:
        pass


class Postgres:
    name = "postgres"

    def __init__(self, tmp: Path, log: Path):
        self.tmp = tmp
        self.log = log
        self.host = os.environ.get("PGHOST", "127.0.0.1")
        self.port = os.environ.get("PGPORT", "5432")
        self.user = os.environ.get("PGUSER", "postgres")
        self.prefix = f"bench_{os.getpid()}_"
        self.created: list[str] = []

    def dbname(self, db: str) -> str:
        return self.prefix + db

    def settings(self, db: str) -> dict:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.dbname(db),
            "USER": self.user,
            "HOST": self.host,
            "PORT": self.port,
        }

    def psql(self, db: str, *commands: str) -> list[str]:
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", self.port]
        cmd += ["-U", self.user, "-d", db]
        for command in commands:
            cmd += ["-c", command]
        return cmd

    def reachable(self) -> str | None:
        if shutil.which("psql") is None:
            return "psql is not installed"
        done = subprocess.run(self.psql("postgres", "SELECT 1"), capture_output=True, text=True)
        return (done.stderr.strip() or "psql failed") if done.returncode else None

    def admin(self, sql: str) -> None:
        run(self.psql("postgres", sql), None, self.log)

    def create_template(self) -> None:
        self.admin(f'CREATE DATABASE "{self.dbname("template")}"')
        self.created.append("template")
        manage(MIGRATE, SETTINGS, self.settings("template"), self.log)

    def settle(self, db: str) -> None:
        """VACUUM ANALYZE and CHECKPOINT the freshly built data.

        Otherwise autovacuum and the checkpointer work on the new tables
        during the first measured runs, and those runs are slower than the
        rest for reasons that have nothing to do with the method measured.
        """
        run(self.psql(self.dbname(db), "VACUUM ANALYZE", "CHECKPOINT"), None, self.log)

    def fresh(self, db: str) -> None:
        self.drop(db)
        self.admin(f'CREATE DATABASE "{self.dbname(db)}" TEMPLATE "{self.dbname("template")}"')
        self.created.append(db)

    def drop(self, db: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{self.dbname(db)}" WITH (FORCE)')

    def cleanup(self) -> None:
        for db in dict.fromkeys(self.created):
            try:
                self.drop(db)
            except BenchError as exc:
                print(f"warning: could not drop {self.dbname(db)}: {exc}", file=sys.stderr)


# -- the benchmark ------------------------------------------------------------


def digest(backend, db: str) -> dict:
    out = manage(["bench_digest"], SETTINGS, backend.settings(db), backend.log)
    return json.loads(out.strip().splitlines()[-1])


def compare(source: dict, copy: dict, *, exact: bool) -> str:
    """ "ok" when every row matches; dumpdata (exact=False) may differ below the millisecond."""
    if all(source[label]["sha256"] == copy.get(label, {}).get("sha256") for label in source):
        return "ok"
    if not exact and all(
        source[label]["sha256_ms"] == copy.get(label, {}).get("sha256_ms") for label in source
    ):
        return "ok to the ms (expected)"
    counts = ", ".join(f"{label} {copy.get(label, {}).get('count')}" for label in source)
    return f"MISMATCH ({counts})"


def bench_sync(backend, options, total: int, source: dict, index: int) -> Row:
    backend.fresh("client")
    workers = 1 if options.profile else options.workers
    server = Server(backend.settings("server"), options, backend.log, workers)
    try:
        env = django_env(
            CLIENT_SETTINGS,
            backend.settings("client"),
            BENCH_ENDPOINT=server.url,
            BENCH_BATCH_SIZE=options.batch_size,
            BENCH_PATCHES=",".join(options.patch) or None,
            BENCH_NATURAL_KEYS="1" if options.natural_keys else None,
        )
        cmd = [PYTHON, "-m", "django", "sync_data", "blog"]
        spies = []
        if options.profile:
            profile_dir = Path(options.profile).resolve()
            profile_dir.mkdir(parents=True, exist_ok=True)
            stem = f"{backend.name}-{total}-{index}"
            spy = [py_spy(), "record", "--rate", "200", "--format", "raw", "--nonblocking"]
            if options.profile_idle:
                spy.append("--idle")
            cmd = [*spy, "-o", str(profile_dir / f"client-{stem}.txt"), "--", *cmd]
            for pid in server.workers():
                out = profile_dir / f"server-{stem}-{pid}.txt"
                spies.append(
                    subprocess.Popen(
                        [*spy, "-o", str(out), "--pid", str(pid)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            time.sleep(1)
        load = os.getloadavg()[0]
        before = server.cpu()
        busy_before = machine_busy_seconds()
        seconds, rss, cpu = run_timed(cmd, env, backend.log)
        busy_after = machine_busy_seconds()
        after = server.cpu()
        server_rss = server.peak_rss_kb()
        for spy_process in spies:
            spy_process.send_signal(2)  # SIGINT: py-spy writes its output and exits
            spy_process.wait(timeout=60)
    finally:
        server.stop()
    server_cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    check = compare(source, digest(backend, "client"), exact=True)
    return Row(
        backend.name,
        f"synctool run {index}" + (" (py-spy: RSS/CPU client are py-spy's)" if spies else ""),
        total,
        seconds,
        rss,
        server_rss,
        cpu,
        server_cpu,
        check,
        load=load,
        cpu_machine=None if busy_before is None else busy_after - busy_before,
    )


def bench_dumpdata(backend, options, total: int, source: dict) -> list[Row]:
    fixture = backend.tmp / "dump.json"
    load = os.getloadavg()[0]
    dump_env = django_env(SETTINGS, backend.settings("server"))
    cmd = [PYTHON, "-m", "django", "dumpdata", "bench", "--output", str(fixture)]
    out_seconds, out_rss, out_cpu = run_timed(cmd, dump_env, backend.log)
    backend.fresh("dump")
    load_env = django_env(SETTINGS, backend.settings("dump"))
    cmd = [PYTHON, "-m", "django", "loaddata", str(fixture)]
    in_seconds, in_rss, in_cpu = run_timed(cmd, load_env, backend.log)
    fixture.unlink()
    check = compare(source, digest(backend, "dump"), exact=False)
    backend.drop("dump")
    return out_in_rows(
        backend.name, ("dumpdata (out)", "loaddata (in)", "dumpdata+loaddata"), total,
        (out_seconds, out_rss, out_cpu), (in_seconds, in_rss, in_cpu), check, "dump", load,
    )  # fmt: skip


def out_in_rows(backend_name, labels, total, out, into, check, kind, load) -> list[Row]:
    """The rows of a two-step baseline: its export, its import, and the two added.

    ``out`` and ``into`` are (seconds, peak RSS, CPU seconds) of each step.
    """
    (out_seconds, out_rss, out_cpu), (in_seconds, in_rss, in_cpu) = out, into
    out_label, in_label, both_label = labels
    return [
        Row(backend_name, out_label, total, out_seconds, None, out_rss, None, out_cpu,
            kind="part"),
        Row(backend_name, in_label, total, in_seconds, in_rss, None, in_cpu, None, kind="part"),
        Row(backend_name, both_label, total, out_seconds + in_seconds, in_rss, out_rss, in_cpu,
            out_cpu, check, kind=kind, load=load),
    ]  # fmt: skip


def bench_copy(backend, options, total: int, source: dict) -> list[Row]:
    tables = ["bench_blog", "bench_post"]
    files = {table: backend.tmp / f"{table}.copy" for table in tables}
    load = os.getloadavg()[0]
    server = backend.dbname("server")
    out = backend.psql(server, *(f"\\copy {t} TO '{files[t]}'" for t in tables))
    out_seconds, out_rss, out_cpu = run_timed(out, None, backend.log)
    backend.fresh("copy")
    into = backend.psql(backend.dbname("copy"), *(f"\\copy {t} FROM '{files[t]}'" for t in tables))
    in_seconds, in_rss, in_cpu = run_timed(into, None, backend.log)
    for path in files.values():
        path.unlink()
    check = compare(source, digest(backend, "copy"), exact=True)
    backend.drop("copy")
    return out_in_rows(
        backend.name, ("psql \\copy out", "psql \\copy in", "psql \\copy out+in"), total,
        (out_seconds, out_rss, out_cpu), (in_seconds, in_rss, in_cpu), check, "copy", load,
    )  # fmt: skip


def bench_backend(backend, options) -> list[Row]:
    total = options.rows + max(options.rows // 100, 1)
    started = time.perf_counter()
    print(f"[{backend.name}] building {options.rows} posts ...", file=sys.stderr, flush=True)
    backend.create_template()
    backend.fresh("server")
    manage(["bench_build", "--rows", str(options.rows)], SETTINGS, backend.settings("server"),
           backend.log)  # fmt: skip
    backend.settle("server")
    source = digest(backend, "server")
    print(f"[{backend.name}] data ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    rows = []
    for index in range(1, options.repeat + 1):
        row = bench_sync(backend, options, total, source, index)
        print(f"[{backend.name}] {row.method}: {row.seconds:.2f} s, {row.digest}", file=sys.stderr)
        rows.append(row)
    if options.repeat > 1:
        sync_rows = list(rows)
        median = statistics.median(r.seconds for r in sync_rows)
        rows.append(
            Row(
                backend.name,
                "synctool median",
                total,
                median,
                max(r.rss_client_kb for r in sync_rows),
                max(r.rss_server_kb for r in sync_rows),
                statistics.median(r.cpu_client for r in sync_rows),
                statistics.median(r.cpu_server for r in sync_rows),
                "ok" if all(r.digest == "ok" for r in sync_rows) else "MISMATCH",
                cpu_machine=None
                if None in (machine := [r.cpu_machine for r in sync_rows])
                else statistics.median(machine),
            )
        )
    if not options.skip_dumpdata:
        print(f"[{backend.name}] dumpdata + loaddata ...", file=sys.stderr, flush=True)
        rows += bench_dumpdata(backend, options, total, source)
    if backend.name == "postgres" and not options.skip_copy:
        print(f"[{backend.name}] psql \\copy ...", file=sys.stderr, flush=True)
        rows += bench_copy(backend, options, total, source)
    backend.drop("server")
    return rows


# -- output ------------------------------------------------------------------


def mb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f} MB"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(rows: list[Row]) -> str:
    header = (
        "backend",
        "method",
        "rows",
        "seconds",
        "rows/s",
        "RSS client",
        "RSS server",
        "CPU client s",
        "CPU server s",
        "CPU all s",
        "speedup vs dump+load",
        "time / psql copy",
        "load",
        "digest",
    )
    lines = [header]
    for row in rows:
        peers = [r for r in rows if r.backend == row.backend]
        dump = next((r.seconds for r in peers if r.kind == "dump"), None)
        copy = next((r.seconds for r in peers if r.kind == "copy"), None)
        lines.append(
            (
                row.backend,
                row.method,
                f"{row.rows:,}",
                f"{row.seconds:.2f}",
                f"{row.rows / row.seconds:,.0f}",
                mb(row.rss_client_kb),
                mb(row.rss_server_kb),
                secs(row.cpu_client),
                secs(row.cpu_server),
                secs(row.cpu_machine),
                f"{dump / row.seconds:.1f}x" if dump and row.kind == "sync" else "-",
                f"{row.seconds / copy:.2f}x" if copy and row.kind == "sync" else "-",
                "-" if row.load is None else f"{row.load:.1f}",
                row.digest,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = []
    for number, line in enumerate(lines):
        cells = [
            cell.ljust(width) if i in (0, 1, 13) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        text.append("  ".join(cells).rstrip())
        if number == 0:
            text.append("  ".join("-" * width for width in widths))
    return "\n".join(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000, help="Post rows (Blog rows: rows/100)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=1, help="synctool runs per backend")
    parser.add_argument("--skip-dumpdata", action="store_true", help="no dumpdata + loaddata")
    parser.add_argument("--skip-copy", action="store_true", help="no psql \\copy baseline")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="correctness only (CI): synctool once per backend, digests checked, no baselines",
    )
    parser.add_argument(
        "--natural-keys",
        action="store_true",
        help="identify blogs by natural key (slug): every post refers to its blog by it",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--no-gzip", action="store_true", help="server answers uncompressed")
    parser.add_argument("--chunk-size", type=int, help="server SYNCTOOL_CHUNK_SIZE")
    parser.add_argument("--batch-size", type=int, help="client SYNCTOOL_BATCH_SIZE")
    parser.add_argument(
        "--patch",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE in the server and the client (experiments; PYTHONPATH applies)",
    )
    parser.add_argument("--profile", metavar="DIR", help="record py-spy raw profiles into DIR")
    parser.add_argument(
        "--profile-idle",
        action="store_true",
        help="with --profile: sample waiting threads too (where the wall time goes)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args(argv)
    if options.smoke:
        options.skip_dumpdata = options.skip_copy = True
        options.repeat = 1
    return options


def main(argv=None) -> int:
    options = parse_args(argv)
    compile_sources()
    tmp = Path(tempfile.mkdtemp(prefix="synctool-bench-"))
    log = tmp / "bench.log"
    print(f"log: {log}", file=sys.stderr)
    names = ["sqlite", "postgres"] if options.backend == "both" else [options.backend]
    rows: list[Row] = []
    failed = False
    for name in names:
        backend = (Sqlite if name == "sqlite" else Postgres)(tmp, log)
        if name == "postgres":
            problem = backend.reachable()
            if problem:
                message = f"[postgres] not reachable: {problem}"
                if options.backend == "postgres":
                    print(message, file=sys.stderr)
                    return 2
                print(message + "; skipped", file=sys.stderr)
                continue
        try:
            rows += bench_backend(backend, options)
        except BenchError as exc:
            print(f"[{name}] FAILED: {exc}", file=sys.stderr)
            failed = True
        finally:
            backend.cleanup()
    print(table(rows))
    print(LEGEND)
    if options.json:
        Path(options.json).write_text(json.dumps([asdict(row) for row in rows], indent=2))
    mismatched = [r for r in rows if r.digest != "-" and not r.digest.startswith("ok")]
    for row in mismatched:
        print(f"DIGEST MISMATCH: {row.backend} {row.method}: {row.digest}", file=sys.stderr)
    if not options.keep and not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}", file=sys.stderr)
    return 1 if failed or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
