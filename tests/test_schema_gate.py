"""The schema gate, end to end: production and the laptop a deploy apart.

``tests/schemaproj`` runs in its own processes with ``SCHEMA_VERSION=1``,
``2`` or ``3`` (version 2 adds ``Customer.loyalty_points`` and ``Coupon`` and
drops ``Customer.fax``; its migration 0003 only adds an index; version 3
makes the loyalty points a float, an order's total four decimal places and
a coupon's code nullable). Production runs
under gunicorn; the laptop runs ``manage.py sync_data``. In every refused
case the laptop's database is unchanged and the message names the
migration, model or field and what to do.
"""

import json
import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import ROOT, start_gunicorn, stop_server
from tests.projects import Site, database, drop, recreate

ROWS = """
import json
from django.apps import apps
print(json.dumps({
    m._meta.label_lower: sorted(m.objects.values_list(flat=False).order_by("pk"))
    for m in apps.get_app_config("inventory").get_models()
}, default=str))
"""


class Shop(Site):
    def rows(self) -> dict:
        return json.loads(self.shell(ROWS))

    def sync(self, *args: str) -> subprocess.CompletedProcess:
        return self.manage("sync_data", "shop", *args, check=False)


def shop(name: str, tmp, version: int, migrate_to: str | None = "latest") -> Shop:
    site = Shop(
        "tests.schemaproj.settings", "SCHEMA", database(name, tmp), tmp / f"{name}-media",
        extra={"SCHEMA_VERSION": str(version)},
    )  # fmt: skip
    recreate(site.settings)
    if migrate_to == "latest":
        site.manage("migrate", "-v", "0")
    elif migrate_to is not None:
        site.manage("migrate", "inventory", migrate_to, "-v", "0")
    return site


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """Three productions, on versions 1, 2 and 3 of the code."""
    tmp = tmp_path_factory.mktemp("schema")
    v1 = shop("schema_prod_v1", tmp, 1)
    v1.shell(
        "from tests.schemaproj.inventory.models import Customer, Order\n"
        "for n in range(3):\n"
        "    c = Customer.objects.create(name=f'prod {n}', fax=f'fax {n}')\n"
        "    Order.objects.create(customer=c, total='12.50')\n"
    )
    v2 = shop("schema_prod_v2", tmp, 2)
    v2.shell(
        "from tests.schemaproj.inventory.models import Coupon, Customer, Order\n"
        "for n in range(3):\n"
        "    c = Customer.objects.create(name=f'prod {n}', loyalty_points=10 * n)\n"
        "    Order.objects.create(customer=c, total='12.50')\n"
        "Coupon.objects.create(code='SPRING')\n"
        "Coupon.objects.create(code='AUTUMN')\n"
    )
    v3 = shop("schema_prod_v3", tmp, 3)
    v3.shell(
        "from tests.schemaproj.inventory.models import Coupon, Customer, Order\n"
        "for n in range(3):\n"
        "    c = Customer.objects.create(name=f'prod {n}', loyalty_points=n + 0.75)\n"
        "    Order.objects.create(customer=c, total='12.5075')\n"
        "Coupon.objects.create(code='WINTER')\n"
    )
    servers = {}
    try:
        for version, site in ((1, v1), (2, v2), (3, v3)):
            servers[version] = start_gunicorn(tmp, "tests.schemaproj.wsgi:application", site.env())
            site.endpoint = servers[version].base_url
        yield {1: v1, 2: v2, 3: v3}
    finally:
        for server in servers.values():
            stop_server(server)
        for site in (v1, v2, v3):
            drop(site.settings)


@pytest.fixture
def laptop(production, tmp_path, request):
    """``laptop(version, migrate_to, serve=1 or 2)``: a laptop pointed at a production."""
    made = []

    def make(version, migrate_to="latest", serve=1, name="schema_laptop"):
        site = shop(f"{name}{len(made)}", tmp_path, version, migrate_to)
        site.endpoint = production[serve].endpoint
        made.append(site)
        return site

    yield make
    for site in made:
        drop(site.settings)


def own_customer(site: Shop, **fields) -> None:
    values = ", ".join(f"{name}={value!r}" for name, value in fields.items())
    site.shell(
        "from tests.schemaproj.inventory.models import Customer\n"
        f"Customer.objects.create(pk=1, name='laptop', {values})\n"
    )


def refused(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def test_production_one_deploy_ahead_is_refused_naming_what_to_do(laptop):
    site = laptop(1, serve=2)
    own_customer(site, fax="0123")
    before = site.rows()
    refused(
        site.sync(),
        "inventory.customer: production sends field 'loyalty_points', which this code does "
        "not have: update your code (production applied inventory.0002_loyalty_and_coupons, "
        "inventory.0003_order_total_index, which this code does not have)",
        "inventory.coupon: production sends this model, which this code does not have",
        "--ignore-unknown",
        "Nothing was written.",
    )
    refused(site.sync("--dry-run"), "loyalty_points")
    assert site.rows() == before


def test_ignore_unknown_drops_them_and_says_how_many(laptop):
    site = laptop(1, serve=2)
    own_customer(site, fax="0123")
    done = site.sync("--ignore-unknown")
    assert done.returncode == 0, done.stderr
    assert "3 values of inventory.customer.loyalty_points left out" in done.stdout
    assert "2 objects of inventory.coupon left out" in done.stdout
    assert "production does not send field 'fax'" in done.stdout
    rows = site.rows()
    # Production's customer 1 updated the laptop's, whose fax (a column production
    # no longer has) was left alone; new rows got the default.
    assert [row[1:] for row in rows["inventory.customer"]] == [
        ["prod 0", "0123"],
        ["prod 1", ""],
        ["prod 2", ""],
    ]
    assert len(rows["inventory.order"]) == 3
    # --verify compares what both sides have: production's field unknown here
    # is left out of its digests, the laptop's own column out of the laptop's.
    done = site.sync("--verify", "--ignore-unknown")
    assert done.returncode == 0, done.stdout + done.stderr
    # Both are named as not compared.
    assert "inventory.customer: equal (3 rows; not compared: fields 'fax', 'loyalty_points')" in (
        done.stdout
    )
    assert "inventory.order: equal (3 rows)" in done.stdout
    assert "inventory.coupon: not compared (this code does not have it)" in done.stdout


def test_an_incremental_sync_leaves_out_what_this_code_does_not_have(laptop):
    """A model production has and this code lacks is left out, round after
    round; the others are compared by content from the second round on."""
    site = laptop(1, serve=2)
    for mode in ("full", "content"):
        done = site.sync("--ignore-unknown", "--incremental")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 objects of inventory.coupon left out" in done.stdout
        assert len(site.rows()["inventory.customer"]) == 3
        lines = done.stdout.splitlines()
        assert any(line.split()[:1] == ["inventory.customer"] and line.split()[-1] == mode
                   for line in lines), done.stdout  # fmt: skip
    done = site.sync("--verify", "--ignore-unknown")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "inventory.customer: equal (3 rows; not compared: fields 'fax', 'loyalty_points')" in (
        done.stdout
    )


def test_a_field_changed_in_kind_or_digits_is_refused_not_truncated(laptop):
    """Before, 2.75 loyalty points arrived as 2 and a total of 12.5075 as
    12.51, exit status 0: this code's fields converted them."""
    site = laptop(2, serve=3)
    before = site.rows()
    update = (
        ": update your code (production applied inventory.0004_changed_fields, which this "
        "code does not have), or pass --ignore-unknown to leave it out"
    )
    for done in (site.sync(), site.sync("--check")):
        refused(
            done,
            "inventory.customer: field 'loyalty_points' differs (production's is a FloatField "
            "and this code's an IntegerField), and this code's cannot hold every value "
            "production's sends" + update,
            "inventory.order: field 'total' differs (production's is a DecimalField("
            "max_digits=10, decimal_places=4) and this code's a DecimalField(max_digits=8, "
            "decimal_places=2))",
        )
    checked = site.sync("--check")
    nullable = (
        "inventory.coupon: production's field 'code' may be null and this code's may not: "
        "a null value there will stop the sync"
    )
    assert nullable in checked.stdout + checked.stderr
    assert site.rows() == before


def test_ignore_unknown_leaves_a_changed_field_alone(laptop):
    site = laptop(2, serve=3)
    site.shell(
        "from tests.schemaproj.inventory.models import Customer, Order\n"
        "for n in range(3):\n"
        "    c = Customer.objects.create(pk=n + 1, name='laptop', loyalty_points=7)\n"
        "    Order.objects.create(pk=n + 1, customer=c, total='1.00')\n"
    )
    done = site.sync("--ignore-unknown")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "inventory.customer: field 'loyalty_points' differs" in done.stdout
    assert "left out; local values are left alone" in done.stdout
    rows = site.rows()
    # Names came from production; the points and totals are the laptop's own.
    assert [row[1:] for row in rows["inventory.customer"]] == [["prod 0", 7], ["prod 1", 7],
                                                              ["prod 2", 7]]  # fmt: skip
    assert [row[2] for row in rows["inventory.order"]] == ["1.00"] * 3
    assert rows["inventory.coupon"] == [[1, "WINTER"]]
    # --verify says which fields it could not compare, not a bare "equal".
    done = site.sync("--verify", "--ignore-unknown")
    assert "inventory.customer: equal (3 rows; not compared: field 'loyalty_points')" in (
        done.stdout
    )
    assert "inventory.order: equal (3 rows; not compared: field 'total')" in done.stdout


def test_the_laptop_one_deploy_ahead_keeps_its_own_columns(laptop):
    site = laptop(2, serve=1)
    own_customer(site, loyalty_points=99)
    refused(
        site.sync(),
        "inventory.customer: production sends field 'fax', which this code does not have "
        "(production's code is older: it has not applied inventory.0002_loyalty_and_coupons, "
        "inventory.0003_order_total_index)",
    )
    done = site.sync("--ignore-unknown")
    assert done.returncode == 0, done.stderr
    assert "production does not send field 'loyalty_points': local values are left alone" in (
        done.stdout
    )
    assert "applied here but not on production: inventory.0002" in done.stdout
    points = {row[0]: row[2] for row in site.rows()["inventory.customer"]}
    assert points == {1: 99, 2: 0, 3: 0}  # 99 stays 99; new rows get the default


def test_a_laptop_never_migrated_is_told_to_migrate(laptop):
    site = laptop(1, migrate_to=None, serve=1)
    refused(
        site.sync(),
        "inventory: the database has no table for Customer, Order: run `manage.py migrate` "
        "(not applied here: inventory.0001_initial)",
    )


def test_new_code_without_migrate_is_told_to_migrate(laptop):
    site = laptop(2, migrate_to="0001", serve=2)
    before = site.shell(
        "from tests.schemaproj.inventory.models import Order; print(Order.objects.count())"
    )
    stderr = refused(
        site.sync(),
        "inventory.customer: the table inventory_customer has no column 'loyalty_points', "
        "which this code has: run `manage.py migrate` (not applied here: "
        "inventory.0002_loyalty_and_coupons, inventory.0003_order_total_index)",
        "inventory: the database has no table for Coupon",
    )
    assert "synctool_" not in stderr  # never a temporary table's name
    assert before.strip() == "0"


def test_a_migration_that_changes_no_field_does_not_block(laptop):
    site = laptop(2, migrate_to="0002", serve=2)
    done = site.sync()
    assert done.returncode == 0, done.stderr
    assert "migrations not applied here: inventory.0003_order_total_index" in done.stdout
    assert len(site.rows()["inventory.coupon"]) == 2


def test_check_only_runs_the_gate(laptop):
    behind = laptop(1, serve=2)
    done = behind.manage("sync_data", "shop", "--check", check=False)
    refused(done, "loyalty_points")
    fine = laptop(2, migrate_to="0002", serve=2)
    done = fine.manage("sync_data", "shop", "--check", check=False)
    assert done.returncode == 0, done.stderr
    assert "ok: this database can take these routes" in done.stdout
    assert "inventory.0003_order_total_index" in done.stdout
    assert fine.rows()["inventory.customer"] == []  # nothing was written


def test_a_sync_into_the_database_that_serves_it_is_refused(production):
    server = production[1]
    before = server.rows()
    done = server.manage("sync_data", "shop", "--clean", "--noinput", check=False)
    refused(done, "is served from the very database you would sync into")
    assert server.rows() == before


def test_a_project_without_a_token_still_migrates_and_syncs(production, tmp_path):
    site = Shop(
        "tests.schemaproj.settings", "SCHEMA", database("schema_notoken", tmp_path),
        tmp_path / "m", endpoint=production[1].endpoint, token=None,
        extra={"SCHEMA_VERSION": "1"},
    )  # fmt: skip
    recreate(site.settings)
    try:
        migrated = site.manage("migrate", "-v", "1")
        # Its client endpoint set, it is a laptop: no warning on every command.
        assert "synctool.W003" not in migrated.stderr
        deploy = site.manage("check", "--deploy", check=False)
        assert deploy.returncode == 1 and "synctool.E001" in deploy.stderr
        from tests.conftest import TOKEN

        done = site.manage("sync_data", "shop", "--token", TOKEN, check=False)
        assert done.returncode == 0, done.stderr
        assert len(site.rows()["inventory.customer"]) == 3
    finally:
        drop(site.settings)


def run_on_a_terminal(site: Shop, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run manage.py with its stdin on a pseudo-terminal, answering ``answer``."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT, env=site.env(), stdin=terminal, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(terminal)
    os.write(controller, answer)
    out, err = process.communicate(timeout=120)
    os.close(controller)
    return process.returncode, out + err


def test_a_clean_far_larger_than_what_arrives_asks_first(laptop):
    site = laptop(1, serve=1)
    site.shell(
        "from tests.schemaproj.inventory.models import Customer\n"
        "Customer.objects.bulk_create(Customer(pk=100 + n, name='mine') for n in range(300))\n"
    )
    code, output = run_on_a_terminal(site, ["sync_data", "shop", "--clean"], b"no\n")
    assert code == 1, output
    assert "--clean would delete 300 local rows; the server announces 6" in output
    assert "the sync was cancelled" in output
    assert len(site.rows()["inventory.customer"]) == 300
    done = site.sync("--clean", "--noinput")
    assert done.returncode == 0, done.stderr
    assert len(site.rows()["inventory.customer"]) == 3
