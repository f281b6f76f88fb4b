"""PostgreSQL."""

from __future__ import annotations

from django.db import DatabaseError, models, transaction

from synctool.backends.base import Backend


class PostgreSQLBackend(Backend):
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
