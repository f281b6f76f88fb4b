#!/usr/bin/env python
"""The cost of synctool_contrib.scrub: a route of N customer rows with five
scrubbed fields (name, email, phone, address, birth date) against the same
route unscrubbed.

Two measures:

- default, **server side**: in one process, what the export view does for
  the route (``synctool.server.export.serialize_querysets``: read, serialize,
  ``transform_object``; then ``synctool.wire.encode_fixture``), timed in CPU
  seconds of the process (steady on a busy machine) and in wall seconds;
- ``--e2e``, **end to end**: gunicorn serving the route from a SQLite
  database (with or without the plugin), and ``manage.py sync_data
  customers --clean`` in its own process loading it into another SQLite
  database; timed in wall seconds of the client process.

Runs alternate between the two modes; the median of each is reported with
the ratio (target: at most 1.5). The rows look like real customers (Faker's
names, domains, phones and addresses mixed by a seeded generator), so the
plain body compresses like real data, not like a counter.

    .venv/bin/python benchmarks/scrub_bench.py                  # 200,000 rows, server side
    .venv/bin/python benchmarks/scrub_bench.py --gzip           # body gzipped, as sent
    .venv/bin/python benchmarks/scrub_bench.py --e2e --repeat 3 # over HTTP, into a database
    .venv/bin/python benchmarks/scrub_bench.py --rows 20000 --repeat 3

The project it runs (an app with the Customer model, settings, URLs) is
written to a temporary directory. Exit status 1 when the scrubbed output
differs between runs (it must be deterministic) or equals the plain one.
"""

import argparse
import datetime
import decimal
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrub-bench-token-0123456789"  # noqa: S105
RULES = {
    "scrubbench.customer": {
        "name": "name",
        "email": "email",
        "phone": "phone",
        "address": "address",
        "birth_date": "date_shift",
    }
}
BASE_PLUGINS = ["synctool_contrib.sqlite"]
PLUGINS = {"plain": BASE_PLUGINS, "scrubbed": [*BASE_PLUGINS, "synctool_contrib.scrub"]}

MODELS = """
from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)
    phone = models.CharField(max_length=40, blank=True)
    address = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True)
    plan = models.CharField(max_length=20)
    balance = models.DecimalField(max_digits=12, decimal_places=2)
    visits = models.IntegerField()
    active = models.BooleanField()
    created = models.DateTimeField()
"""
SETTINGS = f"""
import json, os
DATABASES = {{"default": json.loads(os.environ["SCRUB_BENCH_DATABASE"])}}
SECRET_KEY = "scrub-benchmark"
USE_TZ = True
DEBUG = False
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "synctool", "scrubbench"]
ROOT_URLCONF = "scrubbench.urls"
ALLOWED_HOSTS = ["127.0.0.1"]
MIDDLEWARE = []
SYNCTOOL_API_TOKEN = {TOKEN!r}
SYNCTOOL_CLIENT_TOKEN = {TOKEN!r}
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("SCRUB_BENCH_ENDPOINT")
SYNCTOOL_ROUTES = {{"customers": {{"models": ["scrubbench.Customer"]}}}}
SYNCTOOL_PLUGINS = os.environ.get("SCRUB_BENCH_PLUGINS", "synctool_contrib.sqlite").split(",")
SYNCTOOL_SCRUB = {RULES!r}
"""
URLS = """
from django.urls import include, path

urlpatterns = [path("sync/", include("synctool.urls"))]
"""


def write_project(directory: Path) -> None:
    package = directory / "scrubbench"
    package.mkdir()
    for name, text in {
        "__init__.py": "",
        "models.py": MODELS,
        "settings.py": SETTINGS,
        "urls.py": URLS,
    }.items():
        (package / name).write_text(text)


def environment(directory: Path, database: Path, plugins: list[str], **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="scrubbench.settings",
        PYTHONPATH=os.pathsep.join([str(directory), str(ROOT)]),
        SCRUB_BENCH_DATABASE=json.dumps(
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}
        ),
        SCRUB_BENCH_PLUGINS=",".join(plugins),
        **extra,
    )
    return env


def build_customers(count: int):
    """Rows that look like real customers, from Faker's pools and a seeded generator."""
    from django.core.management import call_command
    from scrubbench.models import Customer

    from synctool_contrib.scrub import fakedata

    call_command("migrate", run_syncdb=True, verbosity=0)
    rng = random.Random(7)
    first, last = fakedata.pool("first_name", "en_US"), fakedata.pool("last_name", "en_US")
    phones, addresses = fakedata.pool("phone", "en_US"), fakedata.pool("address", "en_US")
    domains = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "example.org")
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    batch = []
    for index in range(count):
        given, family = rng.choice(first), rng.choice(last)
        batch.append(
            Customer(
                name=f"{given} {family}",
                email=f"{given}.{family}{index}@{rng.choice(domains)}".lower(),
                phone=rng.choice(phones)[:-4] + f"{rng.randrange(10000):04d}",
                address=rng.choice(addresses),
                birth_date=datetime.date(1940, 1, 1) + datetime.timedelta(rng.randrange(25000)),
                plan=rng.choice(("free", "pro", "team")),
                balance=decimal.Decimal(rng.randrange(10_000_000)) / 100,
                visits=rng.randrange(1000),
                active=rng.random() > 0.1,
                created=start + datetime.timedelta(seconds=rng.randrange(10**8), microseconds=7),
            )
        )
        if len(batch) == 5000:
            Customer.objects.bulk_create(batch)
            batch = []
    Customer.objects.bulk_create(batch)
    return Customer


# -- server side, in process ---------------------------------------------------


def export_once(model, gzip: bool) -> tuple[float, float, str]:
    """CPU seconds, wall seconds and digest of one export of ``model``."""
    from django.utils.text import compress_sequence

    from synctool.server.export import serialize_querysets
    from synctool.wire import encode_fixture

    digest = hashlib.sha256()
    cpu, wall = time.process_time(), time.perf_counter()
    chunks = encode_fixture(serialize_querysets([model.objects.all()]))
    if gzip:
        chunks = compress_sequence(chunks)  # what the view adds for synctool's client
    for chunk in chunks:
        digest.update(chunk)
    return time.process_time() - cpu, time.perf_counter() - wall, digest.hexdigest()[:12]


def set_plugins(plugins: list[str]) -> None:
    from django.conf import settings

    from synctool.plugins import reset_plugin_manager

    settings.SYNCTOOL_PLUGINS = plugins
    reset_plugin_manager()


def server_side(model, repeat: int, gzip: bool) -> dict:
    from synctool_contrib.scrub.rules import get_scrubber

    started = time.perf_counter()
    get_scrubber().plan("scrubbench.customer")
    print(f"rules compiled in {time.perf_counter() - started:.2f} s")
    results = {mode: {"cpu": [], "wall": [], "digests": set()} for mode in PLUGINS}
    for _ in range(repeat):
        for mode, plugins in PLUGINS.items():
            set_plugins(plugins)
            cpu, wall, digest = export_once(model, gzip)
            results[mode]["cpu"].append(cpu)
            results[mode]["wall"].append(wall)
            results[mode]["digests"].add(digest)
    return results


# -- end to end, over HTTP -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    import urllib.error
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--timeout", "600", "django.core.wsgi:get_wsgi_application()"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/sync/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback
            break
        except urllib.error.HTTPError:
            break  # 401: it answers
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"gunicorn did not start; see {log}") from None
            time.sleep(0.1)
    return process, url


def end_to_end(directory: Path, server_db: Path, repeat: int) -> dict:
    results = {mode: {"cpu": [], "wall": [], "digests": set()} for mode in PLUGINS}
    log = directory / "e2e.log"
    client_db = directory / "client.sqlite3"
    manage = [sys.executable, "-m", "django"]
    subprocess.run(
        [*manage, "migrate", "--run-syncdb", "-v", "0"],
        env=environment(directory, client_db, BASE_PLUGINS), check=True,
    )  # fmt: skip
    for _ in range(repeat):
        for mode, plugins in PLUGINS.items():
            process, url = start_gunicorn(environment(directory, server_db, plugins), log)
            try:
                env = environment(directory, client_db, BASE_PLUGINS, SCRUB_BENCH_ENDPOINT=url)
                started = time.perf_counter()
                subprocess.run(
                    [*manage, "sync_data", "customers", "--clean"],
                    env=env, check=True, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                )  # fmt: skip
                results[mode]["wall"].append(time.perf_counter() - started)
            finally:
                process.terminate()
                process.wait()
            digest = subprocess.run(
                [*manage, "shell", "-v", "0", "-c", DIGEST_SCRIPT],
                env=env, check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            results[mode]["digests"].add(digest)
    return results


DIGEST_SCRIPT = (
    "import hashlib; from scrubbench.models import Customer; "
    "print(hashlib.sha256(repr(list(Customer.objects.order_by('pk').values_list()))"
    ".encode()).hexdigest()[:12])"
)


# -- report ------------------------------------------------------------------------


def report(results: dict, rows: int, key: str) -> float:
    print(f"{'mode':<9} {'median s':>9} {'rows/s':>9}  runs ({key} seconds)")
    medians = {}
    for mode, result in results.items():
        medians[mode] = statistics.median(result[key])
        runs = " ".join(f"{t:.2f}" for t in result[key])
        print(f"{mode:<9} {medians[mode]:>9.2f} {rows / medians[mode]:>9.0f}  {runs}")
    ratio = medians["scrubbed"] / medians["plain"]
    print(f"ratio scrubbed/plain ({key}): {ratio:.2f} (target <= 1.50)")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--gzip", action="store_true", help="gzip the body, as the view does for synctool's client"
    )
    parser.add_argument("--e2e", action="store_true", help="sync over HTTP into a database")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scrub-bench-") as name:
        directory = Path(name)
        write_project(directory)
        server_db = directory / "server.sqlite3"
        os.environ.update(environment(directory, server_db, BASE_PLUGINS))
        sys.path[:0] = [str(directory), str(ROOT)]
        import django

        django.setup()
        started = time.perf_counter()
        model = build_customers(options.rows)
        print(f"built {options.rows} customer rows in {time.perf_counter() - started:.1f} s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if options.e2e:
            results = end_to_end(directory, server_db, options.repeat)
            report(results, options.rows, "wall")
        else:
            print("server side, body " + ("gzipped" if options.gzip else "not compressed"))
            results = server_side(model, options.repeat, options.gzip)
            report(results, options.rows, "cpu")
            report(results, options.rows, "wall")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if len(results["scrubbed"]["digests"]) != 1:
        print("ERROR: the scrubbed results differ between runs", file=sys.stderr)
        return 1
    if results["plain"]["digests"] == results["scrubbed"]["digests"]:
        print("ERROR: the scrubbed result equals the plain one", file=sys.stderr)
        return 1
    print(f"scrubbed result identical across runs ({results['scrubbed']['digests'].pop()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
