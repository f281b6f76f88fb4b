"""SQLite."""

from __future__ import annotations

import os
import uuid

from synctool.backends.base import Backend


class SQLiteBackend(Backend):
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
