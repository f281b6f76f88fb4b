"""SQLite."""

from __future__ import annotations

import os
import uuid

from synctool.backends.base import Backend

_virtual_tables: dict[tuple[str, str], bool] = {}


class SQLiteBackend(Backend):
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
            _virtual_tables[key] = bool(
                row and row[0] and row[0].upper().startswith("CREATE VIRTUAL")
            )
        return _virtual_tables[key]

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
