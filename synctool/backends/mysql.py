"""MySQL and MariaDB."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator

from django.db import models, transaction
from django.db.models.constants import OnConflict

from synctool.backends.base import Backend, DatabaseLock, tables_with_auto_keys
from synctool.backends.postgresql import repeatable_read
from synctool.backends.writer import NONE, Writer
from synctool.conf import settings
from synctool.meta import written_columns

# MySQL refuses lock names longer than this.
LOCK_NAME_LENGTH = 64


def sync_lock_name(database: str) -> str:
    """``synctool.sync.<database>``: ``GET_LOCK`` names are server-wide, so the
    name carries the database (hashed when too long)."""
    name = f"synctool.sync.{database}"
    if len(name) > LOCK_NAME_LENGTH:
        name = "synctool.sync." + hashlib.sha256(database.encode()).hexdigest()[:40]
    return name


class NamedLock(DatabaseLock):
    """``GET_LOCK`` on the sync's own connection, named after the database.

    Held by the session: released by ``RELEASE_LOCK`` or when the connection
    ends (a killed process included).
    """

    kind = "a MySQL/MariaDB named lock (GET_LOCK)"

    def __init__(self, connection):
        self.connection = connection
        self.name = ""

    def acquire(self) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE()")
            self.name = sync_lock_name(cursor.fetchone()[0])
            cursor.execute("SELECT GET_LOCK(%s, 0)", [self.name])
            return cursor.fetchone()[0] == 1

    def release(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT RELEASE_LOCK(%s)", [self.name])


class MySQLBackend(Backend):
    quote_function = "QUOTE"
    digests_rows = True
    digest_method = "MD5 of QUOTE()"

    def sync_lock(self) -> NamedLock:
        return NamedLock(self.connection)

    def identity_parts(self) -> list[str]:
        # MariaDB has no @@server_uuid; the data directory, host name and
        # port name the server, DATABASE() the schema.
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT @@hostname, @@port, @@datadir, DATABASE()")
            return [str(value) for value in cursor.fetchone()]

    def estimated_rows(self, model: type[models.Model]) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                [model._meta.db_table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else None

    @contextlib.contextmanager
    def snapshot(self):
        """One ``REPEATABLE READ`` transaction (InnoDB reads a snapshot without locks).

        On MariaDB the session's ``idle_transaction_timeout`` is
        ``SYNCTOOL_EXPORT_IDLE_TIMEOUT`` meanwhile (restored afterwards), and
        ``max_statement_time`` ``SYNCTOOL_EXPORT_TIMEOUT``: a client that stops
        reading cannot hold the snapshot. MySQL has no such limit on an idle
        transaction (see docs/performance.rst).
        """
        variables = {}
        if self.connection.mysql_is_mariadb:
            idle, total = settings.SYNCTOOL_EXPORT_IDLE_TIMEOUT, settings.SYNCTOOL_EXPORT_TIMEOUT
            if idle:
                variables["idle_transaction_timeout"] = int(float(idle))
            if total:
                variables["max_statement_time"] = float(total)
        previous = {}
        with self.connection.cursor() as cursor:
            for name, value in variables.items():
                cursor.execute(f"SELECT @@SESSION.{name}")
                previous[name] = cursor.fetchone()[0]
                cursor.execute(f"SET SESSION {name} = %s", [value])
        try:
            with repeatable_read(self.connection):
                yield
        finally:
            if previous and self.connection.connection is not None:
                with contextlib.suppress(Exception), self.connection.cursor() as cursor:
                    for name, value in previous.items():
                        cursor.execute(f"SET SESSION {name} = %s", [value])

    def iterate(self, queryset, chunk_size: int, key_of: Callable) -> Iterator:
        """Page by page (``pk > last ORDER BY pk LIMIT n``) where the order allows.

        mysqlclient reads a whole result set into the client before the first
        row is returned, so ``iterator()`` would hold a large route in memory.
        Querysets ordered by primary key and not sliced are read by pages;
        others keep ``iterator()``.
        """
        pk_name = queryset.model._meta.pk.name
        by_key = not queryset.query.is_sliced and tuple(queryset.query.order_by) in (
            (pk_name,),
            ("pk",),
        )
        if not by_key:
            yield from queryset.iterator(chunk_size=chunk_size)
            return
        page = list(queryset[:chunk_size])
        while page:
            yield from page
            if len(page) < chunk_size:
                return
            page = list(queryset.filter(**{f"{pk_name}__gt": key_of(page[-1])})[:chunk_size])

    def writer(self) -> MySQLWriter:
        return MySQLWriter(self)

    def reset_sequences(self, model_list) -> None:
        # InnoDB raises the counter by itself when a larger key is inserted;
        # after a clean it must be lowered. ALTER TABLE commits implicitly, so
        # the statements run right after the sync's transaction commits (they
        # are skipped when it rolls back). AUTO_INCREMENT = 1 makes the server
        # pick max(pk) + 1.
        tables = tables_with_auto_keys(model_list)
        quote = self.connection.ops.quote_name

        def reset():
            with self.connection.cursor() as cursor:
                for table, _column in tables:
                    cursor.execute(f"ALTER TABLE {quote(table)} AUTO_INCREMENT = 1")

        transaction.on_commit(reset, using=self.connection.alias)


class MySQLWriter(Writer):
    def __init__(self, backend):
        super().__init__(backend)
        # A statement longer than max_allowed_packet is refused with "server
        # has gone away" (16 MiB by default on MariaDB: 600 rows of 64 KB text).
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT @@max_allowed_packet")
            self.statement_bytes = int(cursor.fetchone()[0])

    def bulk_upsert(self, model: type[models.Model], instances: list[models.Model]) -> None:
        """A plain INSERT for new keys, ``ON DUPLICATE KEY UPDATE`` for keys that exist.

        ``ON DUPLICATE KEY UPDATE`` fires on *any* unique key, so a row
        clashing with another row's unique value would silently overwrite that
        other row. Rows with a new key are inserted plainly (such a clash is
        then an error); only rows whose key exists take ``ON DUPLICATE KEY
        UPDATE``, where InnoDB meets the primary key first.
        """
        fields = written_columns(model)
        keep = self.keep.get(model, NONE)
        update_fields = [f for f in fields if not f.primary_key and f.attname not in keep]
        existing = self._existing_pks(model, [obj.pk for obj in instances])
        self.insert(model, [obj for obj in instances if obj.pk not in existing], fields)
        instances = [obj for obj in instances if obj.pk in existing]
        if update_fields:  # rows whose only column is an existing key: nothing to update
            self.insert(model, instances, fields, OnConflict.UPDATE, update_fields)

    def _existing_pks(self, model: type[models.Model], pks: list) -> set:
        queryset = model._base_manager.using(self.using)
        pk_field = model._meta.pk
        batch_size = max(self.connection.ops.bulk_batch_size([pk_field], pks), 1)
        return {
            pk
            for start in range(0, len(pks), batch_size)
            for pk in queryset.filter(pk__in=pks[start : start + batch_size]).values_list(
                "pk", flat=True
            )
        }
