"""synctool's syncs as Celery tasks (``pip install "django-synctool[celery]"``).

- ``synctool.sync``: :func:`synctool_contrib.celery.tasks.sync`, the
  arguments of ``sync_data`` (routes, database, clean, incremental, ...),
  a JSON summary back;
- ``synctool.fan_out``: one sync of the same routes into each of several
  databases, as a Celery group (each its own task, transaction and lock).

Retries only where nothing was committed (:mod:`synctool_contrib.celery.retry`),
time limits by default, both changed with Celery's own settings. Load the
tasks in the project's Celery app::

    app.autodiscover_tasks(["synctool_contrib.celery"])

Not a Django app: it has no settings, checks or models of its own. See
:doc:`/scheduling`.
"""
