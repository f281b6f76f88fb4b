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

from synctool.client.routes import route_name, route_spellings
from synctool.exceptions import ConfigurationError
from synctool.origin import CELERY, COMMAND, DJANGO_TASK, current_origin
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


def started_by_text(origin: str, task_id: str) -> str:
    """``"sync_data"``, ``"Celery task 1f2e..."``: what started a run, in words."""
    if origin == COMMAND:
        return "sync_data"
    if origin in (CELERY, DJANGO_TASK):
        kind = "Celery task" if origin == CELERY else "Django task"
        return f"{kind} {task_id}" if task_id else kind
    return "Python code"


def describe_running(using: str) -> str:
    """The newest sync the history of ``using`` records as running, as a phrase
    (``"route 'blogs', on host web-1 by Celery task 1f2e..., started ..."``); empty
    when there is none or no history."""
    from synctool.models import SyncRun

    try:
        if not history_table_ready(using):
            return ""
        runs = list(
            SyncRun.objects.using(using)
            .filter(status=SyncRun.RUNNING)
            .order_by("-started", "-id")
            .only("route", "host", "origin", "task_id", "started")[:50]
        )
    except (ConfigurationError, DatabaseError):
        return ""
    if not runs:
        return ""
    newest = runs[0]
    routes = [
        run.route
        for run in reversed(runs)
        if (run.started, run.host, run.task_id) == (newest.started, newest.host, newest.task_id)
    ]
    label = "route" if len(routes) == 1 else "routes"
    started = f"{newest.started:%Y-%m-%d %H:%M:%S %Z}".rstrip()  # no zone without USE_TZ
    return (
        f"{label} {', '.join(repr(route) for route in routes)}, on host {newest.host or '?'} "
        f"by {started_by_text(newest.origin, newest.task_id)}, started {started}"
    )


def close_abandoned(using: str) -> int:
    """Mark as failed the runs of ``using`` still recorded as running.

    Called by a sync that has just taken the database's lock: no other sync
    is running, so these were never finished (their process was killed, by a
    task's hard time limit say). How many there were.
    """
    from synctool.models import SyncRun

    running = SyncRun.objects.using(using).filter(status=SyncRun.RUNNING)
    # An incremental state is written in the sync's transaction: a run that
    # holds one committed its rows, and only its record was left unfinished.
    committed = running.filter(state__isnull=False).update(status=SyncRun.SUCCEEDED)
    return committed + running.update(
        status=SyncRun.FAILED,
        error="interrupted: its process ended before the sync finished",
    )


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
        origin = current_origin()
        self.runs = [
            SyncRun.objects.using(using).create(
                route=route_name(route),
                endpoint=endpoint,
                database=using,
                host=host,
                origin=origin.kind,
                task_id=origin.task_id,
                started=started,
                clean=clean,
                incremental=incremental,
            )
            for route in routes
        ]
        self.dry_run = dry_run

    def _counts(self, result: SyncResult | None, *, failed: bool) -> dict:
        if result is None:
            return {}
        counts = {}
        for label, model in result.models.items():
            entry = {"received": model.received, "written": model.written, "deleted": model.deleted}
            if label in result.modes:
                entry["mode"] = result.modes[label]
            if failed and not result.committed:
                # Kept to show how far it got; the rows are not in the database.
                entry["rolled_back"] = True
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
            run.counts = self._counts(result, failed=bool(error))
            run.media = result.media.summary() if result and result.media else None
            run.bytes_received = result.bytes_received if result is not None else 0
            if result is not None:
                run.bytes_on_wire = result.bytes_on_wire + result.bytes_sent
            run.save(
                using=self.using,
                update_fields=[
                    "finished", "status", "error", "counts", "media", "bytes_received",
                    "bytes_on_wire",
                ],
            )  # fmt: skip

    def keep_state(self, index: int, state: dict[str, dict]) -> None:
        """Make run ``index`` the holder of its route's incremental state (its
        chunks written already), and drop the state of older runs. Called in
        the sync's transaction: the state and the data commit together."""
        from synctool.models import SyncRun, SyncStateChunk

        run = self.runs[index]
        older = (
            SyncRun.objects.using(self.using)
            .filter(
                route__in=route_spellings(run.route), endpoint=run.endpoint, database=run.database
            )
            .exclude(pk=run.pk)
        )
        SyncStateChunk.objects.using(self.using).filter(run__in=older).delete()
        older.filter(state__isnull=False).update(state=None)
        SyncRun.objects.using(self.using).filter(pk=run.pk).update(state=state)
        run.state = state
