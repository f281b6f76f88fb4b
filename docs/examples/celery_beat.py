"""synctool's syncs in a Celery beat schedule: the settings of the project
whose Celery app loads synctool's tasks
(``app.autodiscover_tasks(["synctool_contrib.celery"])``).

The server and its token come from ``SYNCTOOL_CLIENT_ENDPOINT`` and
``SYNCTOOL_CLIENT_TOKEN`` in the workers' settings, not from the schedule:
its arguments travel through the broker.
"""

from celery.schedules import crontab

CELERY_BEAT_SCHEDULE = {
    # Every night at 03:00, the blogs replace those of the "default" database.
    "synctool-blogs-nightly": {
        "task": "synctool.sync",
        "schedule": crontab(hour=3, minute=0),
        "args": [["blogs"]],
        "kwargs": {"clean": True},
    },
    # At 03:30, the same route into two databases at once: one task each
    # (its own transaction, lock and retries), run side by side.
    "synctool-blogs-fan-out": {
        "task": "synctool.fan_out",
        "schedule": crontab(hour=3, minute=30),
        "args": [["blogs"], ["default", "review"]],
        "kwargs": {"clean": True},
    },
}
