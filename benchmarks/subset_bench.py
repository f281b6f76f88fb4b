#!/usr/bin/env python
"""The cost of a subset's parents on the server: 1% of a table whose rows
reference three levels of parents.

It builds N chapters (100 per book; 10 books per writer, 10 writers per
publisher) and serves ``Chapter.objects.filter(number=7)`` (1% of the rows,
spread over every book) as a subset route would: the closure
(:class:`synctool.server.subsets.Subset`: the books, writers and publishers
those chapters reference), then the whole body, serialized and encoded as
the export view streams it. Each run is its own process, so its peak RSS
(``ru_maxrss``) is the subset's alone; printed with the wall time, the
objects and bytes sent, and (PostgreSQL) how many times the query plans
scan the chapter table in full.

    .venv/bin/python benchmarks/subset_bench.py --rows 200000 --backend both --repeat 3
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def database(backend: str, directory: str) -> dict:
    if backend == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": f"bench_subset_{os.getpid()}",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(directory, "s.sqlite3")}


def setup(db: dict) -> None:
    os.environ["BENCH_DATABASE"] = json.dumps(db)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.bench_project.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(rows: int) -> None:
    from django.core.management import call_command

    from benchmarks.bench_project.bench.models import Book, Chapter, Publisher, Writer

    call_command("migrate", "--run-syncdb", verbosity=0)
    books = max(rows // 100, 1)
    Publisher.objects.bulk_create(Publisher(name=f"p{i}") for i in range(max(books // 100, 1)))
    publishers = list(Publisher.objects.values_list("pk", flat=True))
    Writer.objects.bulk_create(
        Writer(publisher_id=publishers[i % len(publishers)], name=f"w{i}")
        for i in range(max(books // 10, 1))
    )
    writers = list(Writer.objects.values_list("pk", flat=True))
    Book.objects.bulk_create(
        Book(writer_id=writers[i % len(writers)], title=f"b{i}") for i in range(books)
    )
    book_ids = list(Book.objects.values_list("pk", flat=True))
    batch = []
    for i in range(rows):
        batch.append(Chapter(book_id=book_ids[i // 100], number=i % 100, text=f"text {i} " * 8))
        if len(batch) == 10_000:
            Chapter.objects.bulk_create(batch)
            batch = []
    Chapter.objects.bulk_create(batch)
    if os.environ.get("BENCH_ANALYZE"):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure() -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from benchmarks.bench_project.bench.models import Chapter
    from synctool.server.export import order_querysets, serialize_querysets
    from synctool.server.subsets import Subset
    from synctool.wire import encode_fixture

    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        subset = Subset([Chapter.objects.filter(number=7)])
        querysets = order_querysets(subset.querysets())
        sent = objects = 0
        counts: dict[str, int] = {}

        def counted(stream):
            nonlocal objects
            for obj in stream:
                objects += 1
                counts[obj["model"]] = counts.get(obj["model"], 0) + 1
                yield obj

        for chunk in encode_fixture(counted(serialize_querysets(querysets))):
            sent += len(chunk)
    seconds = time.monotonic() - started
    full_scans = 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for query in queries.captured_queries:
                sql = query["sql"]
                if not sql.lstrip().upper().startswith("SELECT") or "bench_chapter" not in sql:
                    continue
                cursor.execute("EXPLAIN " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                full_scans += plan.count("Seq Scan on bench_chapter")
    return {
        "seconds": seconds,
        "objects": objects,
        "per_model": counts,
        "bytes": sent,
        "queries": len(queries.captured_queries),
        "chapter_full_scans": full_scans,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(args) -> None:
    setup(json.loads(args.child_db))
    if args.child == "build":
        build(args.rows)
        print(json.dumps({}))
    else:
        print(json.dumps(measure()))


def child(db: dict, what: str, rows: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            what,
            "--child-db",
            json.dumps(db),
            "--rows",
            str(rows),
        ],  # fmt: skip
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_ANALYZE": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return 0
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as directory:
            db = database(backend, directory)
            if backend == "postgres":
                subprocess.run(["createdb", "-h", db["HOST"], "-U", db["USER"], db["NAME"]],
                               check=True)  # fmt: skip
            try:
                child(db, "build", args.rows)
                runs = [child(db, "measure", args.rows) for _ in range(args.repeat)]
            finally:
                if backend == "postgres":
                    subprocess.run(
                        ["dropdb", "-h", db["HOST"], "-U", db["USER"], "--if-exists", db["NAME"]],
                        check=False,
                    )
        seconds = statistics.median(run["seconds"] for run in runs)
        rss = max(run["peak_rss_mib"] for run in runs)
        last = runs[-1]
        own = last["per_model"].get("bench.chapter", 0)
        parents = {k: v for k, v in last["per_model"].items() if k != "bench.chapter"}
        print(
            f"{backend}: {args.rows:,} chapters, subset of {own:,} + parents {json.dumps(parents)}:"
            f" {seconds:.2f} s (median of {len(runs)}), peak RSS {rss:.0f} MiB,"
            f" {last['bytes']:,} bytes, {last['queries']} queries,"
            f" full scans of the chapter table: {last['chapter_full_scans']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
