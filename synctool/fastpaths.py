"""The fast paths for large batches, one per backend, with insert-or-update semantics.

- PostgreSQL: ``COPY`` straight into a table that was empty
  (:class:`StraightCopy`, whose answer is read while the next batch is
  decoded), else ``COPY`` into a temporary table and one
  ``INSERT ... SELECT ... ON CONFLICT`` (:func:`copy_upsert`); binary
  ``COPY`` where every column allows it.
- SQLite: one prepared ``INSERT ... ON CONFLICT`` run with ``executemany``
  (:func:`executemany_upsert`).

Each takes rows of column values (:func:`written_columns`, in that order)
and prepares them with the fields' own ``get_db_prep_save()``, skipped only
where the driver takes the value as it is. :class:`synctool.client.upsert.Upserter`
chooses among them.
"""

import contextlib
import datetime
from collections.abc import Callable

from django.conf import settings as django_settings
from django.db import DatabaseError, IntegrityError, connections, models, transaction

# PostgreSQL's SQLSTATE for a duplicate key.
UNIQUE_VIOLATION = "23505"


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


def copy_cursor(connection):
    """The psycopg 3 cursor under Django's wrapper, if it can COPY."""
    if connection.vendor != "postgresql":
        return None
    raw = connection.cursor().cursor
    return raw if hasattr(raw, "copy") else None


def written_columns(model: type[models.Model]) -> list[models.Field]:
    """The columns the fast paths write, in this order (generated fields excluded)."""
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
        cursor = copy_cursor(connection)
        if cursor is None:
            return None
        from synctool import pgcopy

        table = connection.ops.quote_name(model._meta.db_table)
        fields = written_columns(model)
        savepoint = transaction.savepoint(using=using)
        try:
            with connection.wrap_database_errors:
                statement, oids = _copy_statement(cursor, table, fields, connection, types_of=table)
                pgcopy.send_copy(cursor, statement, _prepared_rows(fields, rows, connection), oids)
        except Exception:
            # psycopg ended the COPY with the error and read the answer: the
            # connection is free again.
            with contextlib.suppress(DatabaseError):
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


def _on_conflict(
    fields, pk: models.Field, quote: Callable[[str], str], keep: frozenset[str] = frozenset()
) -> str:
    """``ON CONFLICT (pk) DO UPDATE SET`` every other column but ``keep`` (attnames).

    PostgreSQL and SQLite. Kept columns are those the server does not send:
    an existing row keeps its value, a new row gets the field's default.
    """
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
        for field in fields
        if not field.primary_key and field.attname not in keep
    )
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return f"ON CONFLICT ({quote(pk.column)}) {action}"


def copy_upsert(
    model: type[models.Model], rows: list[list], using: str, keep: frozenset[str] = frozenset()
) -> bool:
    """PostgreSQL: COPY into a temporary table, then one INSERT ... ON CONFLICT.

    Far cheaper than a multi-row INSERT whose values psycopg must quote on
    the client. Returns False (nothing done) when the driver cannot COPY.
    """
    connection = connections[using]
    cursor = copy_cursor(connection)
    if cursor is None:
        return False
    opts = model._meta
    quote = connection.ops.quote_name
    fields = written_columns(model)
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(opts.db_table)
    staging = quote(f"synctool_{opts.db_table}"[:63])
    conflict = _on_conflict(fields, opts.pk, quote, keep)
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
            f"{conflict}"
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
        datetime_type = datetime.datetime

        def prepare_datetime(value):
            # An aware datetime is what get_db_prep_save() would return anyway.
            if type(value) is datetime_type and value.utcoffset() is not None:
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


def executemany_upsert(
    model: type[models.Model], rows: list[list], using: str, keep: frozenset[str] = frozenset()
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
    fields = written_columns(model)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict = _on_conflict(fields, opts.pk, quote, keep)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
            f"{conflict}",
            list(_prepared_rows(fields, rows, connection)),
        )
    return True
