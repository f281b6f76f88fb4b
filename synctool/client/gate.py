"""Client side: the schema gate, before the transaction opens and before any row is read.

The manifest (:mod:`synctool.server.manifest`) says which fields production sends
per model and which migrations it applied; the local code and database say
what they have. :func:`check_schema` compares them and answers, in one
report, everything that stands in the way, each with what to do:

- production sends a model or field this code does not have: refused
  (update the code), unless ``ignore_unknown`` drops them;
- this code has a table or column its database lacks: refused (run
  ``manage.py migrate``), naming the migrations not applied here;
- this code has fields production does not send: not a refusal; those
  columns are left alone on update and take their default in new rows
  (:mod:`synctool.client.fieldfill`), refused only when a field has none.

Migration differences alone never refuse a sync whose fields fit; they are
named in the report's notes, as are the fields left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import DatabaseError, connections, models
from django.db.migrations.executor import MigrationExecutor

from synctool.backends import backend_for
from synctool.client.fieldfill import missing_value
from synctool.client.fieldfit import misfit, null_misfit
from synctool.exceptions import SameDatabase, SchemaMismatch
from synctool.meta import describe_fields, serialized_fields


@dataclass
class ModelPlan:
    """How the models of one label are loaded, after the gate."""

    label: str
    model: type[models.Model] | None
    # Fields production sends that this code does not have (ignore_unknown).
    dropped_fields: frozenset[str] = frozenset()
    # Fields this code has that production does not send: left alone on update.
    kept_fields: frozenset[str] = frozenset()

    @property
    def dropped(self) -> bool:
        """The whole model is left out (not installed here, ignore_unknown)."""
        return self.model is None

    @property
    def kept_columns(self) -> frozenset[str]:
        """The attnames of :attr:`kept_fields` that are columns (not many-to-many)."""
        if self.model is None:
            return frozenset()
        fields = serialized_fields(self.model)
        return frozenset(
            fields[name].attname for name in self.kept_fields if not fields[name].many_to_many
        )


@dataclass
class GateReport:
    """What the gate found: refusals stop the sync, notes go into its summary."""

    plans: dict[str, ModelPlan] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refusals

    def raise_if_refused(self, where: str) -> None:
        if self.refusals:
            lines = "\n".join(f"  - {line}" for line in self.refusals)
            raise SchemaMismatch(
                f"this database cannot take what {where} sends as things are:\n{lines}\n"
                "Nothing was written."
            )


def refuse_same_database(manifest: dict, using: str, where: str) -> None:
    """Refuse to sync from a server whose database is the one synced into."""
    served = (manifest.get("database") or {}).get("id")
    if not served:
        return
    if served == backend_for(connections[using]).database_id():
        raise SameDatabase(
            f"{where} is served from the very database you would sync into "
            f"(--database {using!r}): a sync into itself would replace the data with its own "
            "copy. Check the endpoint and --database."
        )


class _Migrations:
    """The migrations of this code and database, and production's."""

    def __init__(self, using: str, server: dict[str, list[str]]):
        executor = MigrationExecutor(connections[using])
        loader = executor.loader
        self.unapplied: dict[str, list[str]] = {}
        for migration, _ in executor.migration_plan(loader.graph.leaf_nodes()):
            self.unapplied.setdefault(migration.app_label, []).append(migration.name)
        known = set(loader.disk_migrations)
        for migration in loader.disk_migrations.values():
            known.update(migration.replaces)
        self.server_only = {
            app: [name for name in names if (app, name) not in known]
            for app, names in server.items()
        }
        applied_there = {(app, name) for app, names in server.items() for name in names}
        self.local_only = {}
        if server:
            for app_label, name in sorted(loader.applied_migrations):
                if (app_label, name) not in applied_there and app_label in server:
                    self.local_only.setdefault(app_label, []).append(name)

    def not_applied_here(self, app: str) -> str:
        names = self.unapplied.get(app)
        return f" (not applied here: {', '.join(f'{app}.{n}' for n in names)})" if names else ""

    def applied_only_here(self, app: str) -> str:
        """`` (applied here, not on production: app.0002_x)``, or nothing."""
        names = self.local_only.get(app)
        if not names:
            return ""
        return f" (applied here, not on production: {', '.join(f'{app}.{n}' for n in names)})"

    def update_code(self, app: str) -> str:
        """What to do about a model or field production has and this code has not."""
        names = self.server_only.get(app)
        if names:
            listed = ", ".join(f"{app}.{n}" for n in names)
            return (
                f": update your code (production applied {listed}, which this code does not have)"
            )
        names = self.local_only.get(app)
        if names:
            listed = ", ".join(f"{app}.{n}" for n in names)
            return f" (production's code is older: it has not applied {listed})"
        return ": update your code"


def check_schema(
    manifest: dict, labels: list[str], using: str, *, ignore_unknown: bool = False
) -> GateReport:
    """Compare what production sends for ``labels`` with this code and database."""
    report = GateReport()
    connection = connections[using]
    migrations = _Migrations(using, manifest.get("migrations") or {})
    schema = manifest.get("schema")
    if schema is None:
        report.notes.append(
            "the server does not describe its fields (an older synctool): they were not compared"
        )
        schema = {}
    try:
        tables = set(connection.introspection.table_names())
    except DatabaseError as exc:
        raise SchemaMismatch(f"the database {using!r} cannot be inspected: {exc}") from exc
    missing_tables: dict[str, list[str]] = {}
    ignore_hint = ", or pass --ignore-unknown to leave it out"
    for label in dict.fromkeys(labels):
        app = label.partition(".")[0]
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            if ignore_unknown:
                report.plans[label] = ModelPlan(label, None)
                report.notes.append(f"{label}: not installed here: its objects are left out")
            else:
                report.refusals.append(
                    f"{label}: production sends this model, which this code does not have"
                    + migrations.update_code(app)
                    + ignore_hint
                )
            continue
        local = serialized_fields(model)
        sent = {item["name"]: item for item in schema.get(label, {}).get("fields", ())}
        plan = ModelPlan(label, model)
        if label in schema:
            unknown = sorted(set(sent) - set(local))
            kept = sorted(set(local) - set(sent))
            if unknown and ignore_unknown:
                plan.dropped_fields = frozenset(unknown)
                report.notes.append(
                    f"{label}: production's {_names(unknown)} not in this code: left out"
                )
            elif unknown:
                report.refusals.append(
                    f"{label}: production sends {_names(unknown)}, which this code does not have"
                    + migrations.update_code(app)
                    + ignore_hint
                )
            unfillable = [
                name
                for name in kept
                if not local[name].many_to_many and missing_value(local[name]) is None
            ]
            if unfillable:
                them = "them" if len(unfillable) > 1 else "it"
                report.refusals.append(
                    f"{label}: production does not send {_names(unfillable)}, which this code "
                    "requires with no default (not null, no default, no constant db_default): "
                    f"rows new here could not be written; give {them} a default in this code, "
                    f"or deploy the migration that adds {them} to production"
                    + migrations.applied_only_here(label.partition(".")[0])
                )
            plan.kept_fields = frozenset(kept)
            if fillable := [name for name in kept if name not in unfillable]:
                report.notes.append(
                    f"{label}: production does not send {_names(fillable)}: local values are left "
                    "alone on rows updated in place; new rows, and rows --clean or "
                    "--incremental replace, get the default"
                )
            _compare_fields(label, model, sent, plan, report, migrations, ignore_unknown)
        report.plans[label] = plan
        _check_tables(model, tables, connection, missing_tables, report, migrations)
    for app, names in missing_tables.items():
        report.refusals.append(
            f"{app}: the database has no table for {', '.join(names)}: run `manage.py migrate`"
            + migrations.not_applied_here(app)
        )
    _migration_notes(report, migrations, {label.partition(".")[0] for label in labels})
    return report


def _compare_fields(label, model, sent, plan, report, migrations, ignore_unknown) -> None:
    """Refuse (or, with ``ignore_unknown``, leave out) the fields both sides have
    whose values this code's field cannot hold (see :mod:`synctool.client.fieldfit`);
    note the ones production may send null into a field that may not be null."""
    app = label.partition(".")[0]
    here = {described["name"]: described for described in describe_fields(model)}
    differing, nullable = [], []
    for name in sorted(set(here) & set(sent)):
        why = misfit(here[name], sent[name])
        if why is not None:
            differing.append((name, why))
        elif null_misfit(here[name], sent[name]):
            nullable.append(name)
    for name, why in differing:
        if ignore_unknown:
            plan.dropped_fields |= {name}
            plan.kept_fields |= {name}
            report.notes.append(
                f"{label}: field {name!r} differs ({why}): left out; local values are left "
                "alone on rows updated in place, new rows get the default"
            )
        else:
            report.refusals.append(
                f"{label}: field {name!r} differs ({why}), and this code's cannot hold every "
                "value production's sends" + migrations.update_code(app) + ", or pass "
                "--ignore-unknown to leave it out"
            )
    if nullable:
        report.notes.append(
            f"{label}: production's {_names(nullable)} may be null and this code's may not: "
            "a null value there will stop the sync" + migrations.update_code(app)
        )


def _names(fields: list[str]) -> str:
    quoted = ", ".join(repr(name) for name in fields)
    return f"field {quoted}" if len(fields) == 1 else f"fields {quoted}"


def _check_tables(model, tables: set[str], connection, missing_tables, report, migrations):
    """Refuse a missing table or column of ``model`` (or of its many-to-many tables)."""
    opts = model._meta
    label = opts.label_lower
    for candidate in [model, *(f.remote_field.through for f in opts.local_many_to_many)]:
        table = candidate._meta.db_table
        if table not in tables:
            missing_tables.setdefault(opts.app_label, []).append(candidate._meta.object_name)
            continue
        with connection.cursor() as cursor:
            present = {
                c.name for c in connection.introspection.get_table_description(cursor, table)
            }
        wanted = [f.column for f in candidate._meta.local_concrete_fields if not f.generated]
        present |= backend_for(connection).implicit_columns()
        absent = [column for column in wanted if column not in present]
        if absent:
            report.refusals.append(
                f"{label}: the table {table} has no column {', '.join(map(repr, absent))}, "
                "which this code has: run `manage.py migrate`"
                + migrations.not_applied_here(opts.app_label)
            )


def _migration_notes(report: GateReport, migrations: _Migrations, apps_synced: set[str]) -> None:
    for app in sorted(apps_synced):
        if migrations.unapplied.get(app):
            names = ", ".join(f"{app}.{n}" for n in migrations.unapplied[app])
            report.notes.append(f"{app}: migrations not applied here: {names} (manage.py migrate)")
        if migrations.server_only.get(app):
            names = ", ".join(f"{app}.{n}" for n in migrations.server_only[app])
            report.notes.append(f"{app}: production applied {names}, which this code does not have")
        if migrations.local_only.get(app):
            names = ", ".join(f"{app}.{n}" for n in migrations.local_only[app])
            report.notes.append(f"{app}: applied here but not on production: {names}")
