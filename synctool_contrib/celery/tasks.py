"""The Celery tasks: ``synctool.sync`` and ``synctool.fan_out``.

Their defaults (retries, backoff, time limits) are attributes of
:class:`SyncTask`; change them per project with Celery's
``task_annotations``, e.g. ``CELERY_TASK_ANNOTATIONS = {"synctool.sync":
{"max_retries": 3, "soft_time_limit": 1800, "time_limit": 2100}}``, or per
call with ``apply_async(soft_time_limit=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from celery import Task, group, shared_task
from celery.utils.time import get_exponential_backoff_interval

from synctool.client.jobs import run_sync
from synctool.client.lock import FROM_SETTINGS, LockTimeout
from synctool.exceptions import SynctoolError
from synctool.origin import CELERY, started_by
from synctool_contrib.celery.retry import retry_is_safe

HOUR = 3600


class SyncTask(Task):
    """A sync on a Celery worker: retried only when safe, with time limits."""

    # Attempts after the first, when retry_is_safe(): 30 s, 60 s, 120 s...
    # (a random part of each: "full jitter"), never more than 10 minutes.
    max_retries = 5
    retry_backoff = 30
    retry_backoff_max = 600
    retry_jitter = True
    # The soft limit raises SoftTimeLimitExceeded inside the sync, which rolls
    # back and releases its lock; the hard limit kills the worker process
    # (the database rolls back and releases the lock when the connection
    # ends; the history keeps the run as running until the next sync into
    # that database marks it interrupted). 6 hours: SYNCTOOL_SYNC_TIMEOUT.
    soft_time_limit = 6 * HOUR
    time_limit = 6 * HOUR + 600

    def countdown(self) -> int:
        """Seconds before the next attempt (exponential backoff)."""
        return get_exponential_backoff_interval(
            factor=self.retry_backoff,
            retries=self.request.retries,
            maximum=self.retry_backoff_max,
            full_jitter=self.retry_jitter,
        )


@shared_task(bind=True, base=SyncTask, name="synctool.sync")
def sync(
    self: SyncTask,
    routes: str | list[str],
    *,
    database: str = "default",
    clean: bool = False,
    incremental: bool = False,
    images: bool = False,
    files: bool = False,
    dry_run: bool = False,
    reset: bool = True,
    ignore_unknown: bool = False,
    allow: Iterable[str] = (),
    endpoint: str | None = None,
    token: str | None = None,
    media_url: str | None = None,
    lock_timeout: LockTimeout = FROM_SETTINGS,
    verify: bool = False,
) -> dict:
    """Pull ``routes`` into ``database`` in one transaction (``sync_data ROUTE ...``).

    The summary of :func:`synctool.client.jobs.summary` is the result.
    ``endpoint``, ``token`` and ``media_url`` default to the worker's settings:
    prefer them to arguments, which travel through the broker. Every
    attempt is recorded in the history of syncs with the task's id.
    """
    try:
        with started_by(CELERY, self.request.id):
            return run_sync(
                routes,
                database=database,
                clean=clean,
                incremental=incremental,
                images=images,
                files=files,
                dry_run=dry_run,
                reset=reset,
                ignore_unknown=ignore_unknown,
                allow=allow,
                endpoint=endpoint,
                token=token,
                media_url=media_url,
                lock_timeout=lock_timeout,
                verify=verify,
            )
    except SynctoolError as exc:
        if not retry_is_safe(exc):
            raise
        # After max_retries attempts, retry() raises exc itself.
        raise self.retry(exc=exc, countdown=self.countdown()) from exc


def sync_into_each(routes: str | list[str], databases: Iterable[str], **options) -> group:
    """A group of ``synctool.sync`` tasks: ``routes`` into each of ``databases``.

    Each is its own task (retried on its own), transaction and lock; they
    run side by side as far as the workers' concurrency allows.
    """
    if "database" in options:
        raise TypeError("sync_into_each() takes databases=[...], not database=")
    return group(sync.s(routes, database=database, **options) for database in databases)


@shared_task(name="synctool.fan_out")
def fan_out(routes: str | list[str], databases: list[str], **options) -> dict:
    """Start one ``synctool.sync`` of ``routes`` into each of ``databases`` (a group).

    Returns at once, with the id of the group and of each database's task
    (``{"group": id, "tasks": {database: id}}``); their results are those of
    ``synctool.sync``. The options are those of ``synctool.sync``.
    """
    started = sync_into_each(routes, databases, **options).apply_async()
    return {
        "group": started.id,
        "tasks": {
            database: result.id for database, result in zip(databases, started.results, strict=True)
        },
    }
