#!/usr/bin/env python
"""The cost of synctool_contrib.scrub on the server side.

Builds N ``auth.User`` rows in a SQLite database, then times what the export
view does for a route serving them: ``synctool.export.serialize_querysets``
(read, serialize, ``transform_object``) and ``synctool.wire.encode_fixture``
(JSON bytes), without the scrub plugin and with it scrubbing five fields
(username, email, first_name, last_name, password). Runs alternate and the
median of each is reported, with the ratio (target: at most 1.5).

    .venv/bin/python benchmarks/scrub_bench.py                  # 200,000 rows, 5 runs each
    .venv/bin/python benchmarks/scrub_bench.py --rows 20000 --repeat 3

The Faker pools are drawn once per process, before the timed runs; their
cost is printed on its own line.
"""

import argparse
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
    }
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


def build_rows(count: int) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
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


def export_once() -> tuple[float, int, str]:
    """Seconds, bytes and digest of one export of the User table."""
    from django.contrib.auth.models import User

    from synctool.export import serialize_querysets
    from synctool.wire import encode_fixture

    digest = hashlib.sha256()
    size = 0
    started = time.perf_counter()
    for chunk in encode_fixture(serialize_querysets([User.objects.all()])):
        size += len(chunk)
        digest.update(chunk)
    return time.perf_counter() - started, size, digest.hexdigest()[:12]


def set_plugins(plugins: list[str]) -> None:
    from django.conf import settings

    from synctool.plugins import reset_plugin_manager

    settings.SYNCTOOL_PLUGINS = plugins
    reset_plugin_manager()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scrub-bench-") as directory:
        configure(directory)
        started = time.perf_counter()
        build_rows(options.rows)
        print(f"built {options.rows} auth.User rows in {time.perf_counter() - started:.1f} s")

        from synctool_contrib.scrub.rules import get_scrubber

        started = time.perf_counter()
        get_scrubber().plan("auth.user")
        print(f"scrub rules compiled, Faker pools drawn: {time.perf_counter() - started:.2f} s")

        timings: dict[str, list[float]] = {"plain": [], "scrubbed": []}
        digests: dict[str, set[str]] = {"plain": set(), "scrubbed": set()}
        sizes: dict[str, int] = {}
        for _ in range(options.repeat):
            for mode, plugins in (
                ("plain", BASE_PLUGINS),
                ("scrubbed", [*BASE_PLUGINS, "synctool_contrib.scrub"]),
            ):
                set_plugins(plugins)
                seconds, size, digest = export_once()
                timings[mode].append(seconds)
                digests[mode].add(digest)
                sizes[mode] = size
        plain = statistics.median(timings["plain"])
        scrubbed = statistics.median(timings["scrubbed"])
        print(f"{'mode':<10} {'median s':>9} {'rows/s':>9} {'MB':>7}  runs")
        for mode, median in (("plain", plain), ("scrubbed", scrubbed)):
            runs = " ".join(f"{t:.2f}" for t in timings[mode])
            print(
                f"{mode:<10} {median:>9.2f} {options.rows / median:>9.0f} "
                f"{sizes[mode] / 1e6:>7.1f}  {runs}"
            )
        print(f"ratio scrubbed/plain: {scrubbed / plain:.2f} (target <= 1.50)")
        if len(digests["scrubbed"]) != 1:
            print("ERROR: scrubbed exports differ between runs", file=sys.stderr)
            return 1
        if digests["plain"] == digests["scrubbed"]:
            print("ERROR: the scrubbed export equals the plain one", file=sys.stderr)
            return 1
        print(f"scrubbed output identical across runs (sha256 {digests['scrubbed'].pop()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
