"""MySQL and MariaDB."""

from __future__ import annotations

from django.db import models

from synctool.backends.base import Backend


class MySQLBackend(Backend):
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
