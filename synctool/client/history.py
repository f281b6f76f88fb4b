"""Recording syncs in the history (:class:`synctool.models.SyncRun`); the
incremental state kept there is :mod:`synctool.client.statestore`'s.

A run is written when the sync starts, in autocommit and so outside the
sync's transaction, and completed when it ends: a failed sync's rows are
rolled back, its record is not. (Inside a transaction the caller opened on
that database, the record shares that transaction's fate.)
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from django.db import DatabaseError, connections
from django.utils import timezone

from synctool.exceptions import ConfigurationError
from synctool.result import SyncResult


def history_table_ready(using: str) -> bool:
    """Whether the history's table exists in ``using`` (``migrate synctool`` ran there)."""
    from synctool.models import SyncRun

    try:
        with connections[using].cursor() as cursor:
            tables = connections[using].introspection.table_names(cursor)
    except DatabaseError as exc:
        # Not "no history": the database itself cannot be used (say so).
        raise ConfigurationError(f"database {using!r} cannot be used: {exc}") from exc
    return SyncRun._meta.db_table in tables


class History:
    """The records of one sync: one :class:`~synctool.models.SyncRun` per route."""

    def __init__(
        self,
        routes: Iterable[str],
        *,
        endpoint: str,
        using: str,
        clean: bool,
        incremental: bool,
        dry_run: bool,
    ):
        from synctool.models import SyncRun

        self.using = using
        started = timezone.now()
        host = socket.gethostname()
        self.runs = [
            SyncRun.objects.using(using).create(
                route=route,
                endpoint=endpoint,
                database=using,
                host=host,
                started=started,
                clean=clean,
                incremental=incremental,
            )
            for route in routes
        ]
        self.dry_run = dry_run

    def _counts(self, result: SyncResult | None) -> dict:
        if result is None:
            return {}
        counts = {}
        for label, model in result.models.items():
            entry = {"received": model.received, "written": model.written, "deleted": model.deleted}
            if label in result.modes:
                entry["mode"] = result.modes[label]
            counts[label] = entry
        return counts

    def finish(self, results: list[SyncResult], *, error: str = "") -> None:
        """Complete every record: counts and bytes, and the error of a failure.

        The state of an incremental sync is not written here but in the
        sync's own transaction (:meth:`keep_state`).
        """
        from synctool.models import SyncRun

        finished = timezone.now()
        if error:
            status = SyncRun.FAILED
        elif self.dry_run:
            status = SyncRun.DRY_RUN
        else:
            status = SyncRun.SUCCEEDED
        for index, run in enumerate(self.runs):
            result = results[index] if index < len(results) else None
            run.finished = finished
            run.status = status
            run.error = error
            run.counts = self._counts(result)
            run.bytes_received = result.bytes_received if result is not None else 0
            if result is not None:
                run.bytes_on_wire = result.bytes_on_wire + result.bytes_sent
            run.save(
                using=self.using,
                update_fields=[
                    "finished", "status", "error", "counts", "bytes_received", "bytes_on_wire"
                ],
            )  # fmt: skip

    def keep_state(self, index: int, fingerprints: dict[str, str]) -> None:
        """Make run ``index`` the holder of its route's incremental state (its
        chunks written already), and drop the state of older runs. Called in
        the sync's transaction: the state and the data commit together."""
        from synctool.models import SyncRun, SyncStateChunk

        run = self.runs[index]
        older = (
            SyncRun.objects.using(self.using)
            .filter(route=run.route, endpoint=run.endpoint, database=run.database)
            .exclude(pk=run.pk)
        )
        SyncStateChunk.objects.using(self.using).filter(run__in=older).delete()
        older.exclude(state=None).update(state=None)
        SyncRun.objects.using(self.using).filter(pk=run.pk).update(state=fingerprints)
        run.state = fingerprints
