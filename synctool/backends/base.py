"""The behaviour every backend shares; vendor modules override what differs."""

from __future__ import annotations

import hashlib

from django.db import models


class Backend:
    """A database as synctool sees it (one per Django connection)."""

    # Above this many rows (by the database's own estimate), a whole table's
    # row count is announced as an estimate instead of being counted.
    ESTIMATE_ABOVE = 100_000

    def __init__(self, connection):
        self.connection = connection

    # -- identity -----------------------------------------------------------

    def identity_parts(self) -> list[str]:
        """What tells this database apart from every other one (see database_id)."""
        settings = self.connection.settings_dict
        return [str(settings.get(key) or "") for key in ("HOST", "PORT", "NAME")]

    def database_id(self) -> str:
        """A digest naming this very database, equal from any connection to it.

        The server sends its own in the manifest; a client refuses to sync
        into the database that serves it.
        """
        parts = [self.connection.vendor, *self.identity_parts()]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    def implicit_columns(self) -> set[str]:
        """Columns every table has that introspection does not list."""
        return set()

    # -- writes -------------------------------------------------------------

    def supports_upsert(self, model: type[models.Model]) -> bool:
        """Whether ``INSERT ... ON CONFLICT`` (or its equivalent) works on ``model``'s table."""
        return self.connection.features.supports_update_conflicts

    # -- row counts -----------------------------------------------------------

    def estimated_rows(self, model: type[models.Model]) -> int | None:
        """The database's own estimate of ``model``'s table size, or None."""
        return None

    def count(self, queryset: models.QuerySet) -> tuple[int, bool]:
        """``(rows, estimated)`` of ``queryset``: exact, unless it is a whole large table."""
        if not queryset.query.where and not queryset.query.is_sliced:
            estimate = self.estimated_rows(queryset.model)
            if estimate is not None and estimate > self.ESTIMATE_ABOVE:
                return estimate, True
        return queryset.count(), False
