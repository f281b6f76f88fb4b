#!/usr/bin/env python
"""The cost of synctool_contrib.scrub on the server side.

Builds N rows in a SQLite database, then times what the export view does
for a route serving them: ``synctool.export.serialize_querysets`` (read,
serialize, ``transform_object``) and ``synctool.wire.encode_fixture`` (JSON
bytes), once without the scrub plugin and once with it scrubbing five
fields. Runs alternate; the median of each mode is reported, in CPU time of
the process (steady on a busy machine) and in wall time, with the ratio
(target: at most 1.5).

Scenarios:

- ``customer`` (default): a table without relations, the worst case for the
  ratio since serializing it is cheap: name, email (unique), phone, address
  and birth_date are scrubbed (name, email, phone, address, date_shift);
  five other fields are sent as they are.
- ``user``: ``auth.User`` with username, email, first_name, last_name
  (fake values) and password (unusable_password); its two many-to-many
  fields make Django's serializer far slower per row.

    .venv/bin/python benchmarks/scrub_bench.py                        # customer, 200,000 rows
    .venv/bin/python benchmarks/scrub_bench.py --scenario user --rows 50000
    .venv/bin/python benchmarks/scrub_bench.py --gzip                 # the body gzipped, as sent
    .venv/bin/python benchmarks/scrub_bench.py --rows 20000 --repeat 3

The Faker pools are drawn once per process, before the timed runs; their
cost is printed on its own line. Exit status 1 when the scrubbed output
differs between runs (it must be deterministic) or equals the plain one.
"""

import argparse
import datetime
import decimal
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RULES = {
    "auth.user": {
        "username": "username",
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "password": "unusable_password",
    },
    "synctool.benchcustomer": {
        "name": "name",
        "email": "email",
        "phone": "phone",
        "address": "address",
        "birth_date": "date_shift",
    },
}
BASE_PLUGINS = ["synctool_contrib.sqlite"]


def configure(directory: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(directory, "scrub-bench.sqlite3"),
            }
        },
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "synctool"],
        SECRET_KEY="scrub-benchmark",
        USE_TZ=True,
        SYNCTOOL_PLUGINS=BASE_PLUGINS,
        SYNCTOOL_SCRUB=RULES,
    )
    django.setup()


def customer_model():
    """A model declared here (in the synctool app, which has none) and its table."""
    from django.db import connection, models

    class BenchCustomer(models.Model):
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

        class Meta:
            app_label = "synctool"

    with connection.schema_editor() as editor:
        editor.create_model(BenchCustomer)
    return BenchCustomer


def build_customers(count: int):
    model = customer_model()
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    batch = []
    for index in range(count):
        batch.append(
            model(
                name=f"Customer Number{index}",
                email=f"customer{index}@mail{index % 97}.example",
                phone=f"+1 555 {index:07d}",
                address=f"{index % 900 + 1} Main Street, Springfield {index % 50:02d}",
                birth_date=datetime.date(1950, 1, 1) + datetime.timedelta(days=index % 20000),
                plan=("free", "pro", "team")[index % 3],
                balance=decimal.Decimal(index % 100000) / 100,
                visits=index % 1000,
                active=index % 7 != 0,
                created=start + datetime.timedelta(seconds=index * 37, microseconds=index),
            )
        )
        if len(batch) == 5000:
            model.objects.bulk_create(batch)
            batch = []
    model.objects.bulk_create(batch)
    return model


def build_users(count: int):
    from django.contrib.auth.models import User

    password = "pbkdf2_sha256$870000$abcdefghijklmnop$" + "x" * 44
    batch = []
    for index in range(count):
        batch.append(
            User(
                username=f"user{index:07d}",
                email=f"person{index}@mail{index % 97}.example",
                first_name=f"First{index % 5003}",
                last_name=f"Last{index % 7919}",
                password=password,
                is_staff=index % 50 == 0,
            )
        )
        if len(batch) == 5000:
            User.objects.bulk_create(batch)
            batch = []
    User.objects.bulk_create(batch)
    return User


def export_once(model, gzip: bool) -> tuple[float, float, int, str]:
    """CPU seconds, wall seconds, bytes and digest of one export of ``model``."""
    from django.utils.text import compress_sequence

    from synctool.export import serialize_querysets
    from synctool.wire import encode_fixture

    digest = hashlib.sha256()
    size = 0
    cpu, wall = time.process_time(), time.perf_counter()
    chunks = encode_fixture(serialize_querysets([model.objects.all()]))
    if gzip:
        chunks = compress_sequence(chunks)  # what the view adds for synctool's client
    for chunk in chunks:
        size += len(chunk)
        digest.update(chunk)
    return time.process_time() - cpu, time.perf_counter() - wall, size, digest.hexdigest()[:12]


def set_plugins(plugins: list[str]) -> None:
    from django.conf import settings

    from synctool.plugins import reset_plugin_manager

    settings.SYNCTOOL_PLUGINS = plugins
    reset_plugin_manager()


def run(scenario: str, rows: int, repeat: int, gzip: bool) -> int:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    model = build_customers(rows) if scenario == "customer" else build_users(rows)
    label = model._meta.label_lower
    print(f"built {rows} {label} rows in {time.perf_counter() - started:.1f} s", end="")
    print(", body gzipped" if gzip else ", body not compressed")

    from synctool_contrib.scrub.rules import get_scrubber

    started = time.perf_counter()
    plan = get_scrubber().plan(label)
    print(
        f"scrubbed fields: {', '.join(name for name, _ in plan)}; rules compiled and "
        f"Faker pools drawn in {time.perf_counter() - started:.2f} s"
    )
    cpu: dict[str, list[float]] = {"plain": [], "scrubbed": []}
    wall: dict[str, list[float]] = {"plain": [], "scrubbed": []}
    digests: dict[str, set[str]] = {"plain": set(), "scrubbed": set()}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        for mode, plugins in (
            ("plain", BASE_PLUGINS),
            ("scrubbed", [*BASE_PLUGINS, "synctool_contrib.scrub"]),
        ):
            set_plugins(plugins)
            cpu_s, wall_s, size, digest = export_once(model, gzip)
            cpu[mode].append(cpu_s)
            wall[mode].append(wall_s)
            digests[mode].add(digest)
            sizes[mode] = size
    print(f"{'mode':<9} {'cpu s':>7} {'wall s':>7} {'rows/s cpu':>11} {'MB':>6}  cpu runs")
    medians = {}
    for mode in ("plain", "scrubbed"):
        medians[mode] = (statistics.median(cpu[mode]), statistics.median(wall[mode]))
        runs = " ".join(f"{t:.2f}" for t in cpu[mode])
        print(
            f"{mode:<9} {medians[mode][0]:>7.2f} {medians[mode][1]:>7.2f} "
            f"{rows / medians[mode][0]:>11.0f} {sizes[mode] / 1e6:>6.1f}  {runs}"
        )
    ratio_cpu = medians["scrubbed"][0] / medians["plain"][0]
    ratio_wall = medians["scrubbed"][1] / medians["plain"][1]
    print(f"ratio scrubbed/plain: {ratio_cpu:.2f} cpu, {ratio_wall:.2f} wall (target <= 1.50)")
    if len(digests["scrubbed"]) != 1:
        print("ERROR: the scrubbed exports differ between runs", file=sys.stderr)
        return 1
    if digests["plain"] == digests["scrubbed"]:
        print("ERROR: the scrubbed export equals the plain one", file=sys.stderr)
        return 1
    print(f"scrubbed output identical across runs (sha256 {digests['scrubbed'].pop()}...)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("customer", "user"), default="customer")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--gzip", action="store_true", help="gzip the body, as the view does for synctool's client"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scrub-bench-") as directory:
        configure(directory)
        return run(options.scenario, options.rows, options.repeat, options.gzip)


if __name__ == "__main__":
    sys.exit(main())
