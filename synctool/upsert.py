"""Write model instances in batches as insert-or-update by primary key.

``QuerySet.bulk_create(update_conflicts=True)`` would be the public way, but
it runs ``pre_save()`` on every field, so ``auto_now``/``auto_now_add``
values from the server would be replaced by the local time. ``loaddata``
avoids that with raw saves; we do the same in bulk through the manager's
``_insert(raw=True)``, the very call ``Model.save()`` makes, with Django's
own ``ON CONFLICT``/``ON DUPLICATE KEY`` support. Models that cannot take
that path (multi-table inheritance children, rows without a primary key,
backends without upsert) are saved one by one with ``save_base(raw=True)``,
exactly like ``loaddata``.

Large batches take a faster, backend-specific route with the same
semantics: on PostgreSQL, COPY into a temporary table and one
``INSERT ... SELECT ... ON CONFLICT``; on SQLite, one prepared
``INSERT ... ON CONFLICT`` through ``executemany``. Values are prepared by
the fields' own ``get_db_prep_save()`` (skipped only for types the driver
takes as they are).
"""

from django.db import connections, models
from django.db.models.constants import OnConflict


def can_upsert(model: type[models.Model], using: str) -> bool:
    """Whether ``model`` can be written by :func:`upsert` on ``using``."""
    features = connections[using].features
    return features.supports_update_conflicts and not model._meta.parents and not model._meta.proxy


# Below this many rows, Django's own bulk INSERT is used (it is as fast).
FAST_PATH_THRESHOLD = 200

# Fields whose Python values psycopg adapts as they are: get_db_prep_save()
# would only return them unchanged (they were built by to_python()).
UNPREPARED_FIELDS = (
    models.AutoField, models.BigAutoField, models.SmallAutoField,
    models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
    models.PositiveIntegerField, models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField, models.FloatField, models.BooleanField,
    models.CharField, models.TextField, models.SlugField, models.EmailField,
)  # fmt: skip


def _needs_prep(field: models.Field) -> bool:
    if field.is_relation:
        return _needs_prep(field.target_field)
    return type(field) not in UNPREPARED_FIELDS


def _copy_cursor(connection):
    """The psycopg 3 cursor under Django's wrapper, if it can COPY."""
    if connection.vendor != "postgresql":
        return None
    raw = connection.cursor().cursor
    return raw if hasattr(raw, "copy") else None


def copy_upsert(model: type[models.Model], instances: list[models.Model], using: str) -> bool:
    """PostgreSQL: COPY into a temporary table, then one INSERT ... ON CONFLICT.

    Far cheaper than a multi-row INSERT whose values psycopg must quote on
    the client. Returns False (nothing done) when the driver cannot COPY.
    """
    connection = connections[using]
    cursor = _copy_cursor(connection)
    if cursor is None:
        return False
    opts = model._meta
    quote = connection.ops.quote_name
    fields = [field for field in opts.local_concrete_fields if not field.generated]
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(opts.db_table)
    staging = quote(f"synctool_{opts.db_table}"[:63])
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
        for field in fields
        if not field.primary_key
    )
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    # Identifiers are quoted by the backend; values travel through COPY.
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "  # noqa: S608
        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    cursor.execute(f"TRUNCATE {staging}")
    with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
        for row in _prepared_rows(fields, instances, connection):
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "  # noqa: S608
        f"ON CONFLICT ({quote(opts.pk.column)}) {conflict}"
    )
    return True


def _prepared_rows(fields, instances, connection):
    """Each instance's values ready for the driver (get_db_prep_save only where needed)."""
    prepare = [
        (field.attname, field.get_db_prep_save if _needs_prep(field) else None) for field in fields
    ]
    for obj in instances:
        values = obj.__dict__
        yield [
            values[attname] if to_db is None else to_db(values[attname], connection)
            for attname, to_db in prepare
        ]


def executemany_upsert(
    model: type[models.Model], instances: list[models.Model], using: str
) -> bool:
    """SQLite: one prepared ``INSERT ... ON CONFLICT`` run with ``executemany``.

    Django's bulk insert compiles a multi-row statement per batch, which
    costs more than SQLite's own work. Returns False on other backends.
    """
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    opts = model._meta
    quote = connection.ops.quote_name
    fields = [field for field in opts.local_concrete_fields if not field.generated]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    updates = ", ".join(
        f"{quote(field.column)} = excluded.{quote(field.column)}"
        for field in fields
        if not field.primary_key
    )
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
            f"ON CONFLICT ({quote(opts.pk.column)}) {conflict}",
            list(_prepared_rows(fields, instances, connection)),
        )
    return True


def upsert(model: type[models.Model], instances: list[models.Model], using: str) -> None:
    """Insert ``instances`` (all with a primary key), updating rows whose key exists."""
    if len(instances) >= FAST_PATH_THRESHOLD and (
        copy_upsert(model, instances, using) or executemany_upsert(model, instances, using)
    ):
        return
    opts = model._meta
    connection = connections[using]
    fields = [field for field in opts.local_concrete_fields if not field.generated]
    update_fields = [field for field in fields if not field.primary_key]
    if update_fields:
        on_conflict = OnConflict.UPDATE
        unique_fields = (
            [opts.pk] if connection.features.supports_update_conflicts_with_target else []
        )
    else:
        on_conflict, update_fields, unique_fields = OnConflict.IGNORE, None, None
    batch_size = max(connection.ops.bulk_batch_size(fields, instances), 1)
    manager = model._base_manager
    for start in range(0, len(instances), batch_size):
        manager._insert(
            instances[start : start + batch_size],
            fields=fields,
            using=using,
            raw=True,
            on_conflict=on_conflict,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )


def save_raw(instance: models.Model, using: str) -> None:
    """Save one instance the way ``loaddata`` does (no model ``save()``, raw signals)."""
    models.Model.save_base(instance, using=using, raw=True)


def replace_many_to_many(model: type[models.Model], m2m_rows: dict[str, dict], using: str) -> None:
    """Replace the through rows of the given objects for each m2m field.

    ``m2m_rows`` maps a field name to ``{source pk: [target pks]}``.
    """
    for field_name, targets_by_source in m2m_rows.items():
        field = model._meta.get_field(field_name)
        through = field.remote_field.through
        source = through._meta.get_field(field.m2m_field_name())
        target = through._meta.get_field(field.m2m_reverse_field_name())
        manager = through._base_manager.db_manager(using)
        sources = list(targets_by_source)
        batch = max(connections[using].ops.bulk_batch_size([source], sources), 1) if sources else 1
        for start in range(0, len(sources), batch):
            manager.filter(**{f"{source.attname}__in": sources[start : start + batch]}).delete()
        rows = [
            through(**{source.attname: source_pk, target.attname: target_pk})
            for source_pk, target_pks in targets_by_source.items()
            for target_pk in target_pks
        ]
        manager.bulk_create(rows, batch_size=1000)
