"""Load: one gunicorn server (4 workers, 127.0.0.1) and many clients at once.

Each client is its own process syncing the "blogs" route into its own SQLite
file. Every sync must succeed, every client's copy must equal the server's
rows, and the server workers' peak memory must stay flat: it may not grow
with the rows served.

The default size keeps CI short; the full run of the issue is::

    SYNCTOOL_LOAD_CLIENTS=20 SYNCTOOL_LOAD_ROWS=20000 \\
        python -m pytest tests/test_load.py -m load -s

(``-s`` shows the figures: total time, rows/s, peak RSS per worker).
"""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.apps import apps

from tests.conftest import ROOT, TOKEN, e2e, start_server, stop_server

pytestmark = pytest.mark.load

CLIENTS = int(os.environ.get("SYNCTOOL_LOAD_CLIENTS", "8"))
ROWS = int(os.environ.get("SYNCTOOL_LOAD_ROWS", "2000"))
WORKERS = 4
# A worker's peak RSS after the load may exceed its peak after serving a
# one-row route by at most this much (MB): memory must not follow the rows.
RSS_GROWTH_LIMIT_MB = int(os.environ.get("SYNCTOOL_LOAD_RSS_GROWTH_MB", "60"))
ROUTE = "blogs"
ROUTE_MODELS = ("testapp.Author", "testapp.Tag", "testapp.Blog", "testapp.Post")
WHEN = datetime.datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=datetime.UTC)


def route_digest(using: str) -> str:
    """A digest of the route's rows, the same whatever the backend and the
    ids of many-to-many rows."""
    digest = hashlib.sha256()
    for label in ROUTE_MODELS:
        model = apps.get_model(label)
        throughs = [field.remote_field.through for field in model._meta.local_many_to_many]
        for table in (model, *throughs):
            columns = [
                field.attname
                for field in table._meta.concrete_fields
                if not (table._meta.auto_created and field.primary_key)
            ]
            digest.update(table._meta.db_table.encode())
            rows = table._base_manager.using(using).order_by(*columns).values_list(*columns)
            for row in rows.iterator():
                shown = tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in row)
                digest.update(repr(shown).encode())
    return digest.hexdigest()


def client_main() -> None:
    """One client process: ``python -c ... URL OUTPUT``; Django is set up already."""
    import resource

    from synctool.client import Client

    url, output = sys.argv[1:3]
    started = time.monotonic()
    result = Client(api_url=url, api_token=TOKEN).sync(ROUTE)
    seconds = time.monotonic() - started
    Path(output).write_text(
        json.dumps(
            {
                "digest": route_digest("default"),
                "received": result.received,
                "seconds": seconds,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


CLIENT_COMMAND = (
    "import django; django.setup(); from tests.test_load import client_main; client_main()"
)


def make_route_rows(rows: int) -> int:
    """Fill the server's route with ``rows`` objects; return how many."""
    from tests.testapp.models import Author, Blog, Tag

    author = Author.objects.using("server").create(email="load@example.org", name="Lœad Tëst")
    tags = Tag.objects.using("server").bulk_create(Tag(name=f"tag {i} €") for i in range(10))
    blogs = Blog.objects.using("server").bulk_create(
        Blog(name=f"blog {i}", slug=f"blog-{i}", author=author) for i in range(5)
    )
    add_posts(rows - 1 - len(tags) - len(blogs))
    return rows


def add_posts(count: int) -> None:
    """``count`` more posts on the server, two thirds of them with a tag."""
    from tests.testapp.models import Blog, Post, Tag

    blogs = list(Blog.objects.using("server").order_by("pk"))
    tags = list(Tag.objects.using("server").order_by("pk"))
    first = Post.objects.using("server").count()
    created = Post.objects.using("server").bulk_create(
        (
            Post(
                blog=blogs[i % len(blogs)],
                title=f"post {i} – ünïcødé 😀",
                body=f"body of post {i} " * 12,
                created=WHEN - datetime.timedelta(minutes=i, microseconds=i),
                views=i,
            )
            for i in range(first, first + count)
        ),
        batch_size=2000,
    )
    new = Post.objects.using("server").order_by("-pk").values_list("pk", flat=True)[: len(created)]
    through = Post.tags.through
    through.objects.using("server").bulk_create(
        (through(post_id=pk, tag_id=tags[pk % len(tags)].pk) for pk in new.iterator() if pk % 3),
        batch_size=2000,
    )


def client_databases(tmp_path: Path, count: int) -> list[Path]:
    """One migrated SQLite database per client, copied from a template."""
    env = dict(os.environ, SYNCTOOL_TEST_DB="sqlite", PYTHONPATH=str(ROOT))
    template = tmp_path / "template"
    template.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--settings", "tests.settings", "-v", "0"],
        cwd=ROOT,
        env={**env, "SYNCTOOL_TEST_DIR": str(template)},
        check=True,
        timeout=300,
    )
    directories = []
    for index in range(count):
        directory = tmp_path / f"client-{index:02d}"
        directory.mkdir()
        shutil.copy(template / "client.sqlite3", directory / "client.sqlite3")
        directories.append(directory)
    return directories


def wait_for_workers(master: int, count: int) -> list[int]:
    """The worker processes of a gunicorn master, once all ``count`` are up."""
    deadline = time.monotonic() + 60
    while len(pids := worker_pids(master)) < count:
        assert time.monotonic() < deadline, f"only {len(pids)} of {count} workers started"
        time.sleep(0.1)
    return pids


def worker_pids(master: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the peak resident set size of ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@e2e
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_many_clients_at_once(tmp_path):
    rows = make_route_rows(ROWS)
    server_digest = route_digest("server")
    directories = client_databases(tmp_path, CLIENTS)
    server = start_server(tmp_path, workers=WORKERS)
    try:
        workers = wait_for_workers(server.process.pid, WORKERS)
        # Every worker serves a one-row route first: that is the baseline.
        with ThreadPoolExecutor(WORKERS * 4) as pool:
            list(
                pool.map(
                    lambda _: requests.get(server.sync_url + "sites", auth=(TOKEN, ""), timeout=60),
                    range(WORKERS * 8),
                )
            )
        baseline = {pid: peak_rss_mb(pid) for pid in workers}

        started = time.monotonic()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CLIENT_COMMAND,
                    server.sync_url,
                    str(directory / "result.json"),
                ],
                cwd=ROOT,
                env=dict(
                    os.environ,
                    DJANGO_SETTINGS_MODULE="tests.settings",
                    SYNCTOOL_TEST_DB="sqlite",
                    SYNCTOOL_TEST_DIR=str(directory),
                    PYTHONPATH=str(ROOT),
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for directory in directories
        ]
        outputs = [process.communicate(timeout=900)[0].decode() for process in processes]
        elapsed = time.monotonic() - started
        peaks = {pid: peak_rss_mb(pid) for pid in workers}
        assert worker_pids(server.process.pid) == workers, "a worker died or was replaced"
    finally:
        stop_server(server)

    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    results = [json.loads((d / "result.json").read_text()) for d in directories]
    assert [r["received"] for r in results] == [rows] * CLIENTS
    assert [r["digest"] for r in results] == [server_digest] * CLIENTS

    total = rows * CLIENTS
    figures = {
        "clients": CLIENTS,
        "rows_per_client": rows,
        "workers": WORKERS,
        "backend": os.environ.get("SYNCTOOL_TEST_DB", "sqlite"),
        "total_seconds": round(elapsed, 2),
        "rows_per_second": round(total / elapsed),
        "client_sync_seconds_max": round(max(r["seconds"] for r in results), 2),
        "client_peak_rss_mb_max": round(max(r["max_rss_mb"] for r in results), 1),
        "worker_peak_rss_mb_baseline": [round(baseline[pid], 1) for pid in workers],
        "worker_peak_rss_mb_after": [round(peaks[pid], 1) for pid in workers],
    }
    print("\nload:", json.dumps(figures))
    if report := os.environ.get("SYNCTOOL_LOAD_REPORT"):
        Path(report).write_text(json.dumps(figures, indent=2))
    for pid in workers:
        assert peaks[pid] - baseline[pid] < RSS_GROWTH_LIMIT_MB, figures


def fetch_route(server) -> int:
    """GET the route to the end, as a client would, without loading it; the body's size."""
    with requests.get(server.sync_url + ROUTE, auth=(TOKEN, ""), stream=True, timeout=300) as r:
        assert r.status_code == 200
        return sum(len(chunk) for chunk in r.iter_content(256 * 1024))


@e2e
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_worker_peak_memory_does_not_follow_the_rows(tmp_path):
    """One worker serves the route with N rows, then with 4N: its peak RSS
    hardly moves."""
    small = max(ROWS, 10_000)
    make_route_rows(small)
    server = start_server(tmp_path, workers=1)
    try:
        [worker] = wait_for_workers(server.process.pid, 1)
        small_bytes = fetch_route(server)
        small_peak = peak_rss_mb(worker)
        add_posts(3 * small)
        big_bytes = fetch_route(server)
        big_peak = peak_rss_mb(worker)
        assert worker_pids(server.process.pid) == [worker]
    finally:
        stop_server(server)
    figures = {
        "rows": [small, 4 * small],
        "bytes": [small_bytes, big_bytes],
        "worker_peak_rss_mb": [round(small_peak, 1), round(big_peak, 1)],
    }
    print("\nmemory:", json.dumps(figures))
    assert big_bytes > 3 * small_bytes
    assert big_peak - small_peak < 15, figures
