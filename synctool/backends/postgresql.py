"""PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from django.db import DatabaseError, models, transaction
from django.db.models.expressions import RawSQL

from synctool.backends.base import Backend, DatabaseLock, tables_with_auto_keys
from synctool.backends.writer import NONE, Writer, refused_batch
from synctool.conf import settings
from synctool.exceptions import LoadError

# (alias, database name, table) -> whether the table has row versions (xmin).
_heap_tables: dict[tuple[str, str, str], bool] = {}


def repeatable_read(connection, *settings_sql: tuple[str, list]) -> contextlib.ExitStack:
    """One ``REPEATABLE READ`` transaction (lock-free on PostgreSQL and InnoDB).

    ``settings_sql``: statements run first inside it (its own timeouts).
    Inside a transaction the caller opened, that one is used as it is.
    """
    stack = contextlib.ExitStack()
    if connection.in_atomic_block:
        return stack
    stack.enter_context(transaction.atomic(using=connection.alias))
    with connection.cursor() as cursor:
        # Before the transaction's first query: it applies to this one.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for sql, params in settings_sql:
            cursor.execute(sql, params)
    return stack


# The key of synctool's advisory lock: "synctool" in ASCII, as one bigint
# (pg_locks shows it as classid 1937337955, objid 1953460076).
SYNC_LOCK_KEY = int.from_bytes(b"synctool", "big")


class AdvisoryLock(DatabaseLock):
    """A session-level advisory lock on the sync's own connection.

    Advisory locks belong to one database of the cluster, so syncs into two
    databases of one server never wait for each other. Held by the session:
    a transaction's rollback keeps it, the end of the connection (a killed
    process included) releases it. A pooler in transaction mode (pgbouncer)
    would hand the session to others: connect to PostgreSQL directly.
    """

    kind = "a PostgreSQL advisory lock"

    def __init__(self, connection):
        self.connection = connection

    def acquire(self) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK_KEY])
            return bool(cursor.fetchone()[0])

    def release(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])


class PostgreSQLBackend(Backend):
    digests_rows = True
    digest_method = "hash_record_extended"

    def sync_lock(self) -> AdvisoryLock:
        return AdvisoryLock(self.connection)

    def identity_parts(self) -> list[str]:
        # The cluster's system identifier (pg_control_system() may be refused
        # to unprivileged roles: the postmaster's start time then stands in)
        # and the database's oid and name.
        try:
            with (
                transaction.atomic(using=self.connection.alias),
                self.connection.cursor() as cursor,
            ):
                cursor.execute("SELECT system_identifier::text FROM pg_control_system()")
                cluster = cursor.fetchone()[0]
        except DatabaseError:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_postmaster_start_time()::text")
                cluster = cursor.fetchone()[0]
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT oid::text, datname FROM pg_database WHERE datname = current_database()"
            )
            oid, name = cursor.fetchone()
        return [cluster, oid, name]

    def estimated_rows(self, model: type[models.Model]) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [self.connection.ops.quote_name(model._meta.db_table)],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] is not None and row[0] >= 0 else None

    def row_version(self, model: type[models.Model]):
        """The row's ``xmin``: the transaction that wrote this version of it.

        Every ``UPDATE`` (through the ORM or not), every ``INSERT`` and the
        re-insert of a deleted key write a new version with a new ``xmin``;
        ``VACUUM`` (``FULL`` included) and freezing keep it. So comparing it
        with the one seen at the last sync tells whether the row was written
        since, without reading (or hashing) its columns. Tables only: a view
        or a foreign table has no row versions, and is digested by content.
        """
        table = model._meta.db_table
        key = (self.connection.alias, self.connection.settings_dict["NAME"], table)
        if key not in _heap_tables:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT relkind::text FROM pg_class WHERE oid = to_regclass(%s)",
                    [self.connection.ops.quote_name(table)],
                )
                row = cursor.fetchone()
            _heap_tables[key] = bool(row) and row[0] in ("r", "p", "m")
        if not _heap_tables[key]:
            return None
        quoted = self.connection.ops.quote_name(table)
        # xid -> text -> bigint: xid has no cast to an integer type.
        # The table name is quoted by the connection; nothing comes from outside.
        return RawSQL(  # noqa: S611
            f"{quoted}.xmin::text::bigint", [], output_field=models.BigIntegerField()
        )

    def schema_mark(self, model: type[models.Model]) -> str:
        """The table's columns as the catalog numbers them, dropped ones
        included: ``ALTER TABLE ... ADD COLUMN ... DEFAULT`` and ``DROP
        COLUMN`` change no row's ``xmin`` but always this (a column dropped and
        added again gets a new number)."""
        if self.row_version(model) is None:
            return ""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT string_agg(attnum || ' ' || attname || ' ' || atttypid || ' ' "
                "|| atttypmod || ' ' || attisdropped, ',' ORDER BY attnum) "
                "FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0",
                [self.connection.ops.quote_name(model._meta.db_table)],
            )
            row = cursor.fetchone()
        return (row[0] or "") if row else ""

    def row_digest_sql(self, sql: str, aliases: list[str], text_columns: set[str]) -> str:
        """Each row's digest computed by PostgreSQL: ``hash_record_extended``
        (14 and newer; four times faster than ``md5`` of the row's text), with
        the columns whose equal values travel differently compared as text."""
        quote = self.connection.ops.quote_name
        if self.connection.pg_version < 140000:
            inner = "t::text"
            return f"SELECT t.{quote(aliases[0])}, md5({inner}) FROM ({sql}) t ORDER BY 1"  # noqa: S608
        parts = ", ".join(
            f"t.{quote(alias)}::text" if alias in text_columns else f"t.{quote(alias)}"
            for alias in aliases
        )
        # sql is a compiled queryset (its values are parameters); names are quoted.
        return (
            f"SELECT t.{quote(aliases[0])}, hash_record_extended(ROW({parts}), 0) "  # noqa: S608
            f"FROM ({sql}) t ORDER BY 1"
        )

    packs_versions = True

    def packed_versions_sql(self, sql: str, key: str, version: str) -> str:
        quote = self.connection.ops.quote_name
        k, v = f"t.{quote(key)}", f"t.{quote(version)}"
        # A version is an xid (below 2**32), never 0 for a live row: greatest()
        # keeps the digest's "never 0" rule (0 means "send it again") anyway.
        # The aggregates take the rows in the order of the ordered subquery (an
        # ORDER BY inside them would sort the page again, twice as slow); the
        # reader checks that the keys ascend.
        # sql is a compiled queryset (its values are parameters); names are quoted.
        return (
            f"SELECT count(*), max({k}), "  # noqa: S608
            f"string_agg(int8send({k}::bigint), ''::bytea), "
            f"string_agg(int8send(greatest({v}, 1)), ''::bytea) "
            f"FROM ({sql}) t"
        )

    def snapshot(self):
        """One ``REPEATABLE READ`` transaction: a consistent snapshot, no lock.

        The server-side cursors of ``iterator()`` then need no ``WITH HOLD``,
        which made PostgreSQL copy a query's whole result before its first row.
        The transaction has its own limits, so that a client that stops
        reading cannot hold the snapshot (and VACUUM, and DDL behind it):
        ``idle_in_transaction_session_timeout`` is ``SYNCTOOL_EXPORT_IDLE_TIMEOUT``
        and, on PostgreSQL 17 and newer, ``transaction_timeout`` is
        ``SYNCTOOL_EXPORT_TIMEOUT``.
        """
        limits = []
        idle = settings.SYNCTOOL_EXPORT_IDLE_TIMEOUT
        if idle:
            limits.append(("SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
                           [f"{int(float(idle) * 1000)}ms"]))  # fmt: skip
        total = settings.SYNCTOOL_EXPORT_TIMEOUT
        if total and self.connection.pg_version >= 170000:
            limits.append(("SELECT set_config('transaction_timeout', %s, true)",
                           [f"{int(float(total) * 1000)}ms"]))  # fmt: skip
        return repeatable_read(self.connection, *limits)

    def iterate(self, queryset, chunk_size: int, key_of: Callable) -> Iterator:
        """``iterator()``, with ``timestamptz`` parsed by psycopg's C code meanwhile."""
        from synctool.backends.pgdatetimes import c_datetimes

        with c_datetimes(self.connection):
            yield from queryset.iterator(chunk_size=chunk_size)

    def writer(self) -> PostgreSQLWriter:
        return PostgreSQLWriter(self)

    def reset_sequences(self, model_list) -> None:
        # Django's sequence_reset_sql fails on a table whose largest key is 0
        # or negative (setval: value 0 is out of bounds): that sequence starts
        # again at 1 here.
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for table, column in tables_with_auto_keys(model_list):
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), "  # noqa: S608 - quoted names
                    f"GREATEST(COALESCE(MAX({quote(column)}), 0), 0) + 1, false) "
                    f"FROM {quote(table)}",
                    [quote(table), column],
                )


class PostgreSQLWriter(Writer):
    """COPY for large batches: straight into a table that was empty, else through a
    temporary table (:mod:`synctool.backends.pgcopy`).

    Remembers per model whether its table was empty when the sync first
    wrote to it: such a table takes the straight COPY until a batch meets a
    key that is already there. A straight COPY is left in flight while the
    client decodes the next batch; inside the ``with`` block, every query
    Django runs on the connection first waits for it (an execute wrapper),
    and leaving the block waits for it too.
    """

    def __init__(self, backend):
        super().__init__(backend)
        from synctool.backends.pgcopy import copy_cursor

        self.fast_path = copy_cursor(self.connection) is not None  # psycopg 3, not psycopg2
        self.straight: dict[type[models.Model], bool] = {}
        self.in_flight = None
        self._scope = contextlib.ExitStack()

    def __enter__(self) -> PostgreSQLWriter:
        self._scope.enter_context(self.connection.execute_wrapper(self._settle_first))
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        with self._scope:
            super().__exit__(exc_type, exc, traceback)

    def _settle_first(self, execute, sql, params, many, context):
        self.settle()
        return execute(sql, params, many, context)

    def settle(self) -> None:
        """Wait for the COPY in flight; if a key was already there, write its batch by upsert."""
        from synctool.backends.pgcopy import copy_upsert

        in_flight, self.in_flight = self.in_flight, None
        if in_flight is None:
            return
        model = in_flight.model
        try:
            if not in_flight.wait():
                self.straight[model] = False
                copy_upsert(model, in_flight.rows, self.using, self.keep.get(model, NONE))
        except DatabaseError as exc:
            # Answered while another model's batch is on its way: name the right one.
            raise LoadError(refused_batch(model, len(in_flight.rows), exc)) from exc

    def abandon(self) -> None:
        """Free the connection of the COPY in flight, whatever its answer."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is not None:
            in_flight.abandon()

    def write_fast(self, model: type[models.Model], rows: list[list]) -> bool:
        from synctool.backends.pgcopy import StraightCopy, copy_upsert

        if model not in self.straight:
            self.straight[model] = not model._base_manager.using(self.using).exists()
        if self.straight[model]:
            in_flight = StraightCopy.send(model, rows, self.using)
            if in_flight is not None:
                self.in_flight = in_flight
                return True
            self.straight[model] = False
        return copy_upsert(model, rows, self.using, self.keep.get(model, NONE))
