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
semantics, from rows of column values rather than instances: on
PostgreSQL, COPY straight into a table that was empty (in a savepoint,
falling back at the first existing key), else COPY into a temporary table
and one ``INSERT ... SELECT ... ON CONFLICT``, binary where the column types
allow; on SQLite, one prepared ``INSERT ... ON CONFLICT`` through
``executemany``. Values are prepared by the fields' own
``get_db_prep_save()`` (skipped only for types the driver takes as they
are). :class:`Upserter` picks the path for each batch.
"""

import contextlib
import datetime
from collections.abc import Callable

from django.conf import settings as django_settings
from django.db import DatabaseError, IntegrityError, connections, models, transaction
from django.db.models.constants import OnConflict

# PostgreSQL's SQLSTATE for a duplicate key.
UNIQUE_VIOLATION = "23505"


def can_upsert(model: type[models.Model], using: str) -> bool:
    """Whether ``model`` can be written by :class:`Upserter` on ``using``."""
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


# Binary COPY spares psycopg the text formatting and PostgreSQL the parsing
# (timestamps above all). It is used when every column is one of these exact
# field classes, prepared to the Python type psycopg writes in binary, over a
# column of the listed type; anything else keeps the table on text COPY.
BINARY_COPY_TYPES = {
    models.AutoField: ("int4",), models.BigAutoField: ("int8",),
    models.SmallAutoField: ("int2",), models.IntegerField: ("int4",),
    models.BigIntegerField: ("int8",), models.SmallIntegerField: ("int2",),
    models.PositiveIntegerField: ("int4",), models.PositiveBigIntegerField: ("int8",),
    models.PositiveSmallIntegerField: ("int2",), models.BooleanField: ("bool",),
    models.FloatField: ("float8",), models.CharField: ("varchar", "text"),
    models.TextField: ("text", "varchar"), models.SlugField: ("varchar",),
    models.EmailField: ("varchar",), models.URLField: ("varchar",),
    models.FileField: ("varchar",), models.ImageField: ("varchar",),
    models.DateField: ("date",), models.UUIDField: ("uuid",),
}  # fmt: skip


def _binary_type(field: models.Field) -> tuple[str, ...]:
    while field.is_relation:
        field = field.target_field
    if type(field) is models.DateTimeField:
        # Aware datetimes only: without USE_TZ, naive values are meant in the
        # connection's time zone, which only the text form respects.
        return ("timestamptz",) if django_settings.USE_TZ else ()
    return BINARY_COPY_TYPES.get(type(field), ())


def _binary_copy_types(cursor, table: str, columns: str, fields) -> list[int] | None:
    """The column type OIDs for a binary COPY into ``table``, or None for text."""
    wanted = [_binary_type(field) for field in fields]
    if not all(wanted):
        return None
    cursor.execute(f"SELECT {columns} FROM {table} LIMIT 0")  # noqa: S608
    oids = [column.type_code for column in cursor.description]
    types = cursor.adapters.types
    for oid, names in zip(oids, wanted, strict=True):
        info = types.get(oid)
        if info is None or info.name not in names:
            return None
    return oids


def _copy_cursor(connection):
    """The psycopg 3 cursor under Django's wrapper, if it can COPY."""
    if connection.vendor != "postgresql":
        return None
    raw = connection.cursor().cursor
    return raw if hasattr(raw, "copy") else None


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.local_concrete_fields if not field.generated]


def _copy_statement(cursor, table: str, fields, connection, *, types_of: str):
    """The COPY statement into ``table`` and its binary column types (None: text COPY)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    oids = _binary_copy_types(cursor, types_of, columns, fields)
    binary = " (FORMAT BINARY)" if oids else ""
    return f"COPY {table} ({columns}) FROM STDIN{binary}", oids


def _copy_rows(cursor, table: str, fields, rows, connection, *, types_of: str) -> None:
    """COPY ``rows`` into ``table``; binary when the columns of ``types_of`` allow it."""
    statement, oids = _copy_statement(cursor, table, fields, connection, types_of=types_of)
    with cursor.copy(statement) as copy:
        if oids:
            copy.set_types(oids)
        for row in _prepared_rows(fields, rows, connection):
            copy.write_row(row)


class StraightCopy:
    """A COPY straight into the model's table, in a savepoint, sent but not yet answered.

    The cheapest write there is: nothing is written twice. It is only right
    while no row's key is already in the table, so it is used where the
    table was empty when the sync reached it. :meth:`send` returns as soon
    as the rows are sent, so the client decodes the next batch while
    PostgreSQL inserts this one (:mod:`synctool.pgcopy`); :meth:`wait` then
    tells whether every row went in. Nothing else may use the connection in
    between: :class:`Upserter` sees to that.
    """

    def __init__(self, model: type[models.Model], rows: list[list], using: str, savepoint):
        self.model = model
        self.rows = rows
        self.using = using
        self.savepoint = savepoint

    @classmethod
    def send(cls, model: type[models.Model], rows: list[list], using: str) -> "StraightCopy | None":
        """Send the COPY of ``rows``; None (nothing done) when the driver cannot COPY."""
        connection = connections[using]
        cursor = _copy_cursor(connection)
        if cursor is None:
            return None
        from synctool import pgcopy

        table = connection.ops.quote_name(model._meta.db_table)
        fields = _columns(model)
        savepoint = transaction.savepoint(using=using)
        try:
            with connection.wrap_database_errors:
                statement, oids = _copy_statement(cursor, table, fields, connection, types_of=table)
                pgcopy.send_copy(cursor, statement, _prepared_rows(fields, rows, connection), oids)
        except Exception:
            # psycopg ended the COPY with the error and read the answer: the
            # connection is free again.
            transaction.savepoint_rollback(savepoint, using=using)
            raise
        return cls(model, rows, using, savepoint)

    def wait(self) -> bool:
        """Wait for the answer: True when every row went in.

        A unique violation (a key already there) rolls back to the savepoint
        and returns False: the caller writes the rows another way, with
        ``ON CONFLICT`` (whose error reports a real conflict). Other errors
        are raised.
        """
        from synctool import pgcopy

        connection = connections[self.using]
        try:
            with connection.wrap_database_errors:
                pgcopy.copy_result(connection.connection)
        except IntegrityError as exc:
            transaction.savepoint_rollback(self.savepoint, using=self.using)
            if getattr(exc.__cause__, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
            return False
        except DatabaseError:
            with contextlib.suppress(DatabaseError):
                transaction.savepoint_rollback(self.savepoint, using=self.using)
            raise
        transaction.savepoint_commit(self.savepoint, using=self.using)
        return True

    def abandon(self) -> None:
        """Read the answer and drop it (after another error: the caller rolls back)."""
        from synctool import pgcopy

        with contextlib.suppress(Exception):
            pgcopy.copy_result(connections[self.using].connection)


def copy_insert(model: type[models.Model], rows: list[list], using: str) -> bool:
    """PostgreSQL: COPY straight into the model's table and wait (:class:`StraightCopy`).

    False when a key was already there (rolled back: write the batch with
    :func:`copy_upsert`) or when the driver cannot COPY.
    """
    sent = StraightCopy.send(model, rows, using)
    return sent is not None and sent.wait()


def copy_upsert(model: type[models.Model], rows: list[list], using: str) -> bool:
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
    fields = _columns(model)
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(opts.db_table)
    staging = quote(f"synctool_{opts.db_table}"[:63])
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
        for field in fields
        if not field.primary_key
    )
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    with connection.wrap_database_errors:
        # Identifiers are quoted by the backend; values travel through COPY.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "  # noqa: S608
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {staging}")
        _copy_rows(cursor, staging, fields, rows, connection, types_of=table)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "  # noqa: S608
            f"ON CONFLICT ({quote(opts.pk.column)}) {conflict}"
        )
    return True


def _keeps_aware_datetimes(connection) -> bool:
    """Whether ``get_db_prep_save()`` of a DateTimeField returns an aware datetime unchanged.

    True with ``USE_TZ`` on backends whose driver takes datetimes as they
    are (PostgreSQL); SQLite and MySQL turn them into strings or naive values.
    """
    sample = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    return django_settings.USE_TZ and connection.ops.adapt_datetimefield_value(sample) is sample


def _field_preparer(field: models.Field, connection) -> Callable | None:
    """What makes one column's values ready for the driver; None when they already are."""
    if not _needs_prep(field):
        return None
    to_db = field.get_db_prep_save
    if type(field) is models.DateTimeField and _keeps_aware_datetimes(connection):
        aware = datetime.datetime

        def prepare_datetime(value):
            # An aware datetime is what get_db_prep_save() would return anyway.
            if type(value) is aware and value.utcoffset() is not None:
                return value
            return to_db(value, connection)

        return prepare_datetime
    return lambda value: to_db(value, connection)


def _prepared_rows(fields, rows, connection):
    """Each row's values ready for the driver (prepared only where needed)."""
    preparers = [
        (index, preparer)
        for index, field in enumerate(fields)
        if (preparer := _field_preparer(field, connection)) is not None
    ]
    for row in rows:
        if preparers:
            row = list(row)
            for index, prepare in preparers:
                row[index] = prepare(row[index])
        yield row


def column_values(model: type[models.Model], instances: list[models.Model]) -> list[list]:
    """The rows the fast paths write: each instance's values of :func:`_columns`."""
    attnames = [field.attname for field in _columns(model)]
    return [[obj.__dict__[attname] for attname in attnames] for obj in instances]


def executemany_upsert(model: type[models.Model], rows: list[list], using: str) -> bool:
    """SQLite: one prepared ``INSERT ... ON CONFLICT`` run with ``executemany``.

    Django's bulk insert compiles a multi-row statement per batch, which
    costs more than SQLite's own work. Returns False on other backends.
    """
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    opts = model._meta
    quote = connection.ops.quote_name
    fields = _columns(model)
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
            list(_prepared_rows(fields, rows, connection)),
        )
    return True


class Upserter:
    """Writes the batches of one sync as insert-or-update by primary key.

    Picks the fastest path that keeps those semantics for each batch, and
    remembers per model whether its table was empty when the sync first
    wrote to it: such a table takes PostgreSQL's straight COPY until a
    batch meets a key that is already there.

    Used as a context manager around the writes. A straight COPY is left
    in flight while the caller decodes the next batch; inside the block,
    every query Django runs on the connection first waits for it (an
    execute wrapper), and leaving the block waits for it too.
    """

    def __init__(self, using: str):
        self.using = using
        self.straight: dict[type[models.Model], bool] = {}
        self.in_flight: StraightCopy | None = None
        self._scope = contextlib.ExitStack()

    def __enter__(self) -> "Upserter":
        self._scope.enter_context(connections[self.using].execute_wrapper(self._settle_first))
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        with self._scope:
            if exc_type is None:
                self.settle()
            else:
                self.abandon()

    def _settle_first(self, execute, sql, params, many, context):
        self.settle()
        return execute(sql, params, many, context)

    def settle(self) -> None:
        """Wait for the COPY in flight; if a key was already there, write its batch by upsert."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is not None and not in_flight.wait():
            self.straight[in_flight.model] = False
            copy_upsert(in_flight.model, in_flight.rows, self.using)

    def abandon(self) -> None:
        """Free the connection of the COPY in flight, whatever its answer (an error is coming)."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is not None:
            in_flight.abandon()

    def write(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """Insert ``instances`` (all with a primary key), updating rows whose key exists."""
        self.settle()
        self._first_write(model)
        if (
            len(instances) >= FAST_PATH_THRESHOLD
            and self.has_fast_path()
            and self._write_fast(model, column_values(model, instances))
        ):
            return
        bulk_upsert(model, instances, self.using)

    def write_rows(
        self, model: type[models.Model], rows: list[list], new_instance: Callable[..., models.Model]
    ) -> None:
        """Like :meth:`write`, from rows of concrete field values (in the model's order).

        Instances are made with ``new_instance(*row)`` only for the paths
        that need them (Django's bulk insert).
        """
        self.settle()
        self._first_write(model)
        if len(rows) >= FAST_PATH_THRESHOLD and self.has_fast_path():
            positions = _column_positions(model)
            columns = rows if positions is None else [[row[i] for i in positions] for row in rows]
            if self._write_fast(model, columns):
                return
        bulk_upsert(model, [new_instance(*row) for row in rows], self.using)

    def has_fast_path(self) -> bool:
        """Whether large batches have a faster path than Django's bulk insert here."""
        connection = connections[self.using]
        return connection.vendor == "sqlite" or _copy_cursor(connection) is not None

    def _first_write(self, model: type[models.Model]) -> None:
        if model not in self.straight:
            self.straight[model] = not model._base_manager.using(self.using).exists()

    def _write_fast(self, model: type[models.Model], rows: list[list]) -> bool:
        if self.straight[model]:
            in_flight = StraightCopy.send(model, rows, self.using)
            if in_flight is not None:
                self.in_flight = in_flight
                return True
            self.straight[model] = False
        return copy_upsert(model, rows, self.using) or executemany_upsert(model, rows, self.using)


def _column_positions(model: type[models.Model]) -> list[int] | None:
    """Where each of :func:`_columns` sits among the concrete fields (None: the same)."""
    concrete = model._meta.concrete_fields
    columns = _columns(model)
    if list(concrete) == columns:
        return None
    return [concrete.index(field) for field in columns]


def bulk_upsert(model: type[models.Model], instances: list[models.Model], using: str) -> None:
    """Django's own multi-row ``INSERT ... ON CONFLICT``/``ON DUPLICATE KEY`` (raw saves)."""
    connection = connections[using]
    fields = _columns(model)
    update_fields = [field for field in fields if not field.primary_key]
    if not connection.features.supports_update_conflicts_with_target:
        # MySQL/MariaDB: ON DUPLICATE KEY UPDATE fires on *any* unique key,
        # so a row clashing with another row's unique value would silently
        # overwrite that other row. Rows with a new key are inserted plainly
        # (such a clash is then an error); only rows whose key exists take
        # ON DUPLICATE KEY UPDATE, where InnoDB meets the primary key first.
        existing = _existing_pks(model, [obj.pk for obj in instances], using)
        _insert(model, [obj for obj in instances if obj.pk not in existing], fields, using)
        instances = [obj for obj in instances if obj.pk in existing]
        if update_fields:
            _insert(model, instances, fields, using, OnConflict.UPDATE, update_fields)
        return  # rows whose only column is an existing key: nothing to update
    if update_fields:
        _insert(model, instances, fields, using, OnConflict.UPDATE, update_fields, [model._meta.pk])
    else:
        _insert(model, instances, fields, using, OnConflict.IGNORE)


def _insert(
    model, instances, fields, using, on_conflict=None, update_fields=None, unique_fields=None
):
    """``Manager._insert(raw=True)`` (what ``Model.save()`` calls) in batches the backend takes."""
    if not instances:
        return
    batch_size = max(connections[using].ops.bulk_batch_size(fields, instances), 1)
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


def _existing_pks(model: type[models.Model], pks: list, using: str) -> set:
    queryset = model._base_manager.using(using)
    pk_field = model._meta.pk
    batch_size = max(connections[using].ops.bulk_batch_size([pk_field], pks), 1)
    return {
        pk
        for start in range(0, len(pks), batch_size)
        for pk in queryset.filter(pk__in=pks[start : start + batch_size]).values_list(
            "pk", flat=True
        )
    }


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
