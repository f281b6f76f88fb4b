"""SQLite."""

from __future__ import annotations

import os
import uuid
import zlib
from urllib.parse import urlsplit

from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast

from synctool.backends.base import Backend, DatabaseLock, ProcessLock, tables_with_auto_keys
from synctool.backends.values import prepared_rows
from synctool.backends.writer import NONE, Writer, on_conflict_clause
from synctool.exceptions import ConfigurationError
from synctool.meta import written_columns

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_virtual_tables: dict[tuple[str, str], bool] = {}

# The lock file of a database file, beside it: SQLite writes its journal there too.
LOCK_SUFFIX = ".synctool-lock"


class FileLock(DatabaseLock):
    """``flock`` on a file beside the database file: every process on the machine
    that opens the database sees it; the end of the process releases it.

    The file stays (removing it would let a process lock a file another has
    just replaced); it is empty.
    """

    kind = "a lock file (flock)"

    def __init__(self, path: str):
        self.path = path
        self._file = None

    def acquire(self) -> bool:
        try:
            file = open(self.path, "ab")  # noqa: SIM115 - kept open while the lock is held
        except OSError as exc:
            # The database's folder is missing or read-only: the database
            # cannot be written either. Said before anything else is tried.
            raise ConfigurationError(
                f"the database {self.path.removesuffix(LOCK_SUFFIX)} cannot be used: its lock "
                f"file cannot be created ({exc.strerror})"
            ) from exc
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        except BaseException:
            file.close()
            raise
        self._file = file
        return True

    def release(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            finally:
                file.close()


def database_path(name) -> str:
    """The file of a SQLite database named ``name`` (a path or a ``file:`` URI)."""
    name = str(name)
    if name.startswith("file:"):
        name = urlsplit(name).path
    return os.path.realpath(name)


CONVERTED_TYPES = {"DateTimeField", "DateField", "TimeField", "BooleanField"}


# The SQL function that digests a row's text (registered on each connection).
ROW_DIGEST_FUNCTION = "synctool_row_digest"


def row_text_digest(text: bytes | None) -> int:
    """A row's digest from its text: CRC-32 and Adler-32 (both computed in C).

    What is sought is a change to a row, not an adversary: a changed row
    keeps both its CRC-32 and its byte sum only about once in 2**47 times
    (the 48 bits that travel). Reading the row as text in SQLite and
    digesting it here costs a third less than fetching its columns and
    hashing them in Python. Below 2**63, SQLite's largest integer.
    """
    if text is None:
        return 1
    return (zlib.adler32(text) << 31) ^ zlib.crc32(text) or 1


def column_text(column: str) -> str:
    """SQL writing ``column``'s value so that no other value is written the same
    way, whatever its storage class: text as its length in bytes, ``:`` and
    the text (so a comma inside is not the next column); an integer in
    digits; NULL as ``~``; a real (to its last digit) or a blob by
    ``quote()``. Cheaper than ``quote()`` for all: text is not scanned for
    quotes to double."""
    return (
        f"CASE typeof({column}) WHEN 'text' THEN length(CAST({column} AS BLOB)) || ':' || "
        f"{column} WHEN 'integer' THEN {column} WHEN 'null' THEN '~' ELSE quote({column}) END"
    )


class SQLiteBackend(Backend):
    digests_rows = True
    digest_method = "CRC-32 and Adler-32 of each column's text, by storage class"

    def digest_column(self, expression, field):
        """Dates, times and booleans read as their stored text: Python's sqlite3
        converters (a third of the read) are not needed to digest them."""
        target = field
        while target.is_relation:
            target = target.target_field
        if target.get_internal_type() in CONVERTED_TYPES:
            return Cast(expression, TextField())
        return expression

    def row_digest_sql(self, sql: str, aliases: list[str], text_columns: set[str]) -> str:
        """Each row's digest: its columns written one after the other, each in a
        way no other value is written (:func:`column_text`), digested by
        :func:`row_text_digest`."""
        self.connection.ensure_connection()
        # Registered again for each query (microseconds): the connection may be new.
        self.connection.connection.create_function(
            ROW_DIGEST_FUNCTION, 1, row_text_digest, deterministic=True
        )
        quote = self.connection.ops.quote_name
        text = " || ',' || ".join(column_text(f"t.{quote(a)}") for a in aliases[1:]) or "''"
        # sql is a compiled queryset (its values are parameters); names are quoted.
        return (
            f"SELECT t.{quote(aliases[0])}, {ROW_DIGEST_FUNCTION}(CAST({text} AS BLOB)) "  # noqa: S608
            f"FROM ({sql}) t ORDER BY 1"
        )

    def enforces_keys_at_commit(self) -> bool:
        """Django declares SQLite's foreign keys ``DEFERRABLE INITIALLY DEFERRED``
        and turns ``PRAGMA foreign_keys`` on: a broken one fails the commit
        (turning them off inside a transaction does nothing)."""
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys")
            row = cursor.fetchone()
        return bool(row and row[0])

    def identity_parts(self) -> list[str]:
        name = str(self.connection.settings_dict["NAME"])
        if self.connection.is_in_memory_db():
            return [f"memory:{uuid.uuid4()}"]  # an in-memory database is only ever itself
        path = os.path.realpath(name)
        try:
            stat = os.stat(path)
        except OSError:
            return [path]
        return [path, str(stat.st_dev), str(stat.st_ino)]

    def sync_lock(self) -> DatabaseLock:
        """A lock file beside the database file. An in-memory database exists in
        one process only (its connections share it only within the process):
        a lock within this process is enough."""
        name = str(self.connection.settings_dict["NAME"])
        if self.connection.is_in_memory_db() or fcntl is None:
            return ProcessLock(f"sqlite:{name}")
        return FileLock(database_path(name) + LOCK_SUFFIX)

    def implicit_columns(self) -> set[str]:
        return {"rowid", "oid", "_rowid_"}  # every table's, but WITHOUT ROWID ones

    def supports_upsert(self, model) -> bool:
        # A virtual table (an FTS5 search index, say) refuses UPSERT: its rows
        # are saved one by one, as loaddata saves them.
        return super().supports_upsert(model) and not self.is_virtual(model._meta.db_table)

    def is_virtual(self, table: str) -> bool:
        key = (str(self.connection.settings_dict["NAME"]), table)
        if key not in _virtual_tables:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
                )
                row = cursor.fetchone()
            sql = (row[0] or "") if row else ""
            _virtual_tables[key] = sql.upper().startswith("CREATE VIRTUAL")
        return _virtual_tables[key]

    def writer(self) -> SQLiteWriter:
        return SQLiteWriter(self)

    def reset_sequences(self, model_list) -> None:
        # SQLite raises the counter of an AUTOINCREMENT table by itself when a
        # larger key is inserted, but never lowers it: after a clean, new local
        # rows would get ids far above the source's. Setting it to the current
        # maximum makes the next create() get max(pk) + 1, as on the server.
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for table, column in tables_with_auto_keys(model_list):
                cursor.execute(
                    "UPDATE sqlite_sequence SET seq = "  # noqa: S608 - quoted identifiers
                    f"(SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}) "
                    "WHERE name = %s",
                    [table],
                )


class SQLiteWriter(Writer):
    """One prepared ``INSERT ... ON CONFLICT`` run with ``executemany`` for large batches.

    Django's bulk insert compiles a multi-row statement per batch, which
    costs more than SQLite's own work.
    """

    fast_path = True

    def write_fast(self, model: type[models.Model], rows: list[list]) -> bool:
        opts = model._meta
        quote = self.connection.ops.quote_name
        fields = written_columns(model)
        columns = ", ".join(quote(field.column) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        conflict = on_conflict_clause(fields, opts.pk, quote, self.keep.get(model, NONE))
        with self.connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {quote(opts.db_table)} ({columns}) "  # noqa: S608
                f"VALUES ({placeholders}) {conflict}",
                list(prepared_rows(fields, rows, self.connection)),
            )
        return True
