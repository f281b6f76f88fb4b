"""PostgreSQL's COPY: straight into a table, or through a temporary table.

- :class:`StraightCopy`: ``COPY`` straight into a table that was empty, in a
  savepoint, its answer read later (see below); the cheapest write there is.
- :func:`copy_upsert`: ``COPY`` into a temporary table, then one ``INSERT
  ... SELECT ... ON CONFLICT``: far cheaper than a multi-row INSERT whose
  values psycopg must quote on the client.
- Binary ``COPY`` where every column allows it (the ``pg_binary`` trait of
  :data:`synctool.meta.FIELD_TRAITS`), text ``COPY`` otherwise.

A COPY whose result is awaited later:

psycopg's ``Copy`` sends the rows, then waits until PostgreSQL has inserted
every one of them. PostgreSQL inserts more slowly than the client sends, so
the client would wait several milliseconds per batch, doing nothing, while
the rows it has to decode next sit in its buffers. :func:`send_copy` sends
the whole COPY, end included, and returns at once; :func:`copy_result`
waits for PostgreSQL's answer later, once the next batch is decoded.

Between the two, the connection can run nothing else: the caller must call
:func:`copy_result` before anything else uses the connection
(``synctool.client.upsert.Upserter`` does so from an execute wrapper).
Only psycopg's public API is used: ``Copy`` with a ``Writer`` of our own,
and the ``PGconn`` wrapper of libpq for the answer.
"""

import contextlib
import select
from collections.abc import Iterable

from django.conf import settings as django_settings
from django.db import DatabaseError, IntegrityError, connections, models, transaction
from psycopg import errors, pq
from psycopg.copy import LibpqWriter

from synctool.backends.values import prepared_rows
from synctool.backends.writer import NONE, on_conflict_clause
from synctool.meta import traits, written_columns

# PostgreSQL's SQLSTATE for a duplicate key.
UNIQUE_VIOLATION = "23505"


# Django 6.1 renames savepoint() to savepoint_create() (the old name warns).
_savepoint = getattr(transaction, "savepoint_create", transaction.savepoint)


def _wait(pgconn: pq.abc.PGconn, *, write: bool) -> None:
    fileno = pgconn.socket
    select.select([] if write else [fileno], [fileno] if write else [], [])


class _EndWithoutWaiting(LibpqWriter):
    """A writer that ends the COPY without waiting for PostgreSQL's answer."""

    def finish(self, exc: BaseException | None = None) -> None:
        if exc is not None:  # the COPY is abandoned: psycopg's own handling
            super().finish(exc)
            return
        pgconn = self.connection.pgconn
        while pgconn.put_copy_end() == 0:
            _wait(pgconn, write=True)
        while pgconn.flush():
            _wait(pgconn, write=True)


def send_copy(cursor, statement: str, rows: Iterable, types: list[int] | None) -> None:
    """Run the COPY ``statement`` with ``rows`` (binary when ``types`` are given).

    Returns once everything is sent, before PostgreSQL has answered:
    :func:`copy_result` must be called before the connection is used again.
    """
    with cursor.copy(statement, writer=_EndWithoutWaiting(cursor)) as copy:
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_result(connection) -> None:
    """Wait for the answer to the COPY :func:`send_copy` sent; raise its error if any.

    ``connection`` is the psycopg connection. The error is the one psycopg
    would have raised (``UniqueViolation``, ``NotNullViolation``...).
    """
    pgconn = connection.pgconn
    pgconn.consume_input()
    while pgconn.is_busy():
        _wait(pgconn, write=False)
        pgconn.consume_input()
    failed = None
    while (result := pgconn.get_result()) is not None:
        if failed is None and result.status != pq.ExecStatus.COMMAND_OK:
            failed = result
    if failed is not None:
        raise errors.error_from_result(failed, encoding=connection.info.encoding)


def _binary_type(field: models.Field) -> tuple[str, ...]:
    while field.is_relation:
        field = field.target_field
    if type(field) is models.DateTimeField:
        # Aware datetimes only: without USE_TZ, naive values are meant in the
        # connection's time zone, which only the text form respects.
        return ("timestamptz",) if django_settings.USE_TZ else ()
    return traits(field).pg_binary


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
    """The psycopg 3 cursor under Django's wrapper, if it can COPY (not psycopg2's)."""
    raw = connection.cursor().cursor
    return raw if hasattr(raw, "copy") else None


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
        for row in prepared_rows(fields, rows, connection):
            copy.write_row(row)


class StraightCopy:
    """A COPY straight into the model's table, in a savepoint, sent but not yet answered.

    The cheapest write there is: nothing is written twice. It is only right
    while no row's key is already in the table, so it is used where the
    table was empty when the sync reached it. :meth:`send` returns as soon
    as the rows are sent, so the client decodes the next batch while
    PostgreSQL inserts this one (:func:`send_copy`); :meth:`wait` then
    tells whether every row went in. Nothing else may use the connection in
    between: :class:`~synctool.backends.postgresql.PostgreSQLWriter` sees to that.
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
        table = connection.ops.quote_name(model._meta.db_table)
        fields = written_columns(model)
        savepoint = _savepoint(using=using)
        try:
            with connection.wrap_database_errors:
                statement, oids = _copy_statement(cursor, table, fields, connection, types_of=table)
                send_copy(cursor, statement, prepared_rows(fields, rows, connection), oids)
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
        connection = connections[self.using]
        try:
            with connection.wrap_database_errors:
                copy_result(connection.connection)
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
        with contextlib.suppress(Exception):
            copy_result(connections[self.using].connection)


def copy_upsert(
    model: type[models.Model], rows: list[list], using: str, keep: frozenset[str] = NONE
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
    conflict = on_conflict_clause(fields, opts.pk, quote, keep)
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
