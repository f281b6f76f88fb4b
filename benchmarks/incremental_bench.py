#!/usr/bin/env python
"""Incremental syncs against full ones: a 200,000-row route of which 0.5% of
rows were updated (raw UPDATEs), 0.1% deleted and 0.1% inserted since the
last sync.

For each backend: build the data, run a full ``sync_data blog --clean``
three times (the median is the baseline), a first ``sync_data blog
--incremental`` (full, keeps the state), then per round change the server
(``bench_change``) and run ``sync_data blog --incremental``. Each sync is
its own process against a fresh gunicorn, both databases vacuumed and
analyzed before it (PostgreSQL), timed by the OS (wall, peak RSS of the
client and of the server worker) and by its own record in the history of
syncs (its seconds inside the command, without the interpreter's start and
imports; its bytes), and the client's rows are checked against the
server's by digest.

    .venv/bin/python benchmarks/incremental_bench.py --rows 200000 --backend both --repeat 3
    .venv/bin/python benchmarks/incremental_bench.py --rows 20000 --backend sqlite   # quick

The goals (issue 15): incremental wall time at most 35% of the full sync's
(10% where models have a timestamp; synctool compares content either way,
so the two cases are one), bytes at most 5%, memory flat on both sides.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchmarks.run  # noqa: E402
from benchmarks.run import (  # noqa: E402
    CLIENT_SETTINGS,
    PYTHON,
    SETTINGS,
    BenchError,
    Postgres,
    Server,
    Sqlite,
    compare,
    compile_sources,
    digest,
    django_env,
    manage,
    run,
    run_timed,
)


def last_record(backend) -> tuple[int, float]:
    """The bytes the newest sync moved over the network (the bodies as they
    travelled, gzip, and the state it sent) and its own seconds (from its
    start to its end inside the command: no interpreter start, no imports),
    as its history record says."""
    env = django_env(CLIENT_SETTINGS, backend.settings("client"))
    out = run([PYTHON, "-m", "django", "sync_data", "--history", "--history-limit", "1"], env,
              backend.log)  # fmt: skip
    columns = out.splitlines()[2].split()
    return int(columns[7]), float(columns[8])


def timed_sync(backend, options, *flags: str) -> dict:
    # The client's database settled as the server's is after each change
    # (VACUUM ANALYZE on PostgreSQL): after a sync that emptied and loaded a
    # table, its dead row versions made the next sync's read of the local
    # rows twice as slow until autovacuum came by, which between two daily
    # syncs it has.
    backend.settle("client")
    server = Server(backend.settings("server"), options, backend.log, options.workers)
    try:
        env = django_env(CLIENT_SETTINGS, backend.settings("client"), BENCH_ENDPOINT=server.url)
        cmd = [PYTHON, "-m", "django", "sync_data", "blog", "--noinput", *flags]
        seconds, rss, cpu = run_timed(cmd, env, backend.log)
        server_rss = server.peak_rss_kb()
    finally:
        server.stop()
    check = compare(digest(backend, "server"), digest(backend, "client"), exact=True)
    sent, sync_seconds = last_record(backend)
    return {
        "seconds": seconds,
        "sync_seconds": sync_seconds,
        "rss_client_mb": rss / 1024,
        "rss_server_mb": server_rss / 1024,
        "bytes": sent,
        "digest": check,
    }


def median_run(runs: list[dict]) -> dict:
    """The median of each measure of ``runs``; the digest check of all of them."""
    return {
        key: statistics.median(r[key] for r in runs)
        for key in ("seconds", "sync_seconds", "rss_client_mb", "rss_server_mb", "bytes")
    } | {"digest": "ok" if all(r["digest"] == "ok" for r in runs) else "MISMATCH"}


def bench(backend, options) -> list[tuple[str, dict]]:
    # The state is kept per endpoint: every server of one backend gets the same port.
    port = benchmarks.run.free_port()
    benchmarks.run.free_port = lambda: port
    backend.create_template()
    backend.fresh("server")
    manage(["bench_build", "--rows", str(options.rows)], SETTINGS, backend.settings("server"),
           backend.log)  # fmt: skip
    backend.settle("server")
    backend.fresh("client")
    # The baseline is the median of a few full syncs: one alone moves the
    # shares below by several points on a noisy machine.
    fulls = [timed_sync(backend, options, "--clean") for _ in range(options.full_repeat)]
    results = [("full --clean", median_run(fulls))]
    results.append(("first --incremental", timed_sync(backend, options, "--incremental")))
    for round_ in range(1, options.repeat + 1):
        manage(["bench_change", "--seed", str(round_)], SETTINGS, backend.settings("server"),
               backend.log)  # fmt: skip
        backend.settle("server")
        results.append((f"--incremental {round_}", timed_sync(backend, options, "--incremental")))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of changes and syncs")
    parser.add_argument(
        "--full-repeat", type=int, default=3, help="full syncs, whose median is the baseline"
    )
    # One worker: a sync's requests come one after the other, and with two
    # fresh workers the route's request could land on one that has served
    # nothing yet and pays its first request's imports (0.2-0.4 s), which a
    # production server's long-lived workers do not.
    parser.add_argument("--workers", type=int, default=1)
    options = parser.parse_args(argv)
    options.chunk_size = options.no_gzip = options.natural_keys = None
    options.patch = []
    compile_sources()
    tmp = Path(tempfile.mkdtemp(prefix="synctool-incbench-"))
    log = tmp / "bench.log"
    print(f"log: {log}", file=sys.stderr)
    names = ["sqlite", "postgres"] if options.backend == "both" else [options.backend]
    failed = False
    header = f"{'backend':9} {'run':22} {'seconds':>8} {'% full':>7} {'sync s':>7} {'% full':>7}"
    lines = [header + f" {'bytes':>11} {'% full':>7} {'RSS cl MB':>9} {'RSS srv MB':>10}  digest"]
    for name in names:
        backend = (Sqlite if name == "sqlite" else Postgres)(tmp, log)
        try:
            results = bench(backend, options)
        except BenchError as exc:
            print(f"[{name}] FAILED: {exc}", file=sys.stderr)
            failed = True
            continue
        finally:
            backend.cleanup()
        full = results[0][1]
        rounds = [r for label, r in results if label.startswith("--incremental ")]
        if rounds:
            results.append(("--incremental median", median_run(rounds)))
        for label, r in results:
            share = 100 * r["seconds"] / full["seconds"]
            sync_share = 100 * r["sync_seconds"] / full["sync_seconds"]
            lines.append(
                f"{name:9} {label:22} {r['seconds']:8.2f} {share:6.1f}%"
                f" {r['sync_seconds']:7.2f} {sync_share:6.1f}%"
                f" {int(r['bytes']):11,} {100 * r['bytes'] / full['bytes']:6.1f}%"
                f" {r['rss_client_mb']:9.0f} {r['rss_server_mb']:10.0f}  {r['digest']}"
            )
            failed = failed or not r["digest"].startswith("ok")
    print("\n".join(lines))
    print(f"rows: {options.rows:,} posts and {options.rows // 100:,} blogs; changes per round: "
          "0.5% of posts updated (raw UPDATE), 0.1% deleted, 0.1% inserted")  # fmt: skip
    if not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
