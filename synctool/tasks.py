"""The sync as a task of Django's task framework.

``django.tasks`` on Django 6; on Django 5.2 its backport, the ``django-tasks``
package (``pip install "django-synctool[tasks]"``). Enqueue it like any
task, with the arguments of ``sync_data``::

    from synctool.tasks import sync

    result = sync.enqueue(["blogs"], clean=True)             # the default backend
    sync.using(queue_name="synctool").enqueue(["blogs"], database="staging")

A worker of the configured backend runs it (``manage.py db_worker`` with
``django-tasks-db``). Its return value is the JSON summary of
:func:`synctool.client.jobs.summary`; a failed sync fails the task with the
sync's error, and both are recorded in the history of syncs, with the task's
id. See :doc:`/scheduling`.
"""

from __future__ import annotations

from collections.abc import Iterable

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django 5.2: the backport
    try:
        from django_tasks import TaskContext, task
    except ImportError:
        task = None

from synctool.client.jobs import run_sync
from synctool.client.lock import FROM_SETTINGS, LockTimeout
from synctool.origin import DJANGO_TASK, started_by

NO_FRAMEWORK = (
    "synctool.tasks needs Django's task framework: Django 6, or on Django 5.2 "
    'the django-tasks backport (pip install "django-synctool[tasks]")'
)


class Unavailable:
    """``sync`` where no task framework is installed.

    Importing this module must still work: Celery's ``autodiscover_tasks()``
    imports every installed app's ``tasks`` module, and a project scheduling
    syncs with Celery need not install Django's task framework. Using the
    task says what to install.
    """

    def __getattr__(self, name: str):
        raise ImportError(NO_FRAMEWORK)

    def __call__(self, *args, **kwargs):
        raise ImportError(NO_FRAMEWORK)


def sync(
    context: TaskContext,
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

    ``endpoint``, ``token`` and ``media_url`` default to the settings:
    prefer them to arguments, which the task backend stores with the task.
    ``lock_timeout`` defaults to ``SYNCTOOL_SYNC_LOCK_TIMEOUT``: a sync
    into a database another sync is writing fails at once (the framework
    does not retry), or waits that long.
    """
    with started_by(DJANGO_TASK, context.task_result.id):
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


# Decorated here, not with @task, so that the module imports without the framework.
sync = task(takes_context=True)(sync) if task is not None else Unavailable()
