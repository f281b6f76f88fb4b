"""Settings of the processes that sync beside the test process: a second
``sync_data``, a Celery worker, Django's ``db_worker``. The test settings,
with the databases the test process hands over (``SYNCTOOL_WORKER_DATABASES``:
``{alias: settings dict}``, the test databases themselves), and the queues
of the task runners."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = json.loads(os.environ["SYNCTOOL_WORKER_DATABASES"])
SYNCTOOL_PLUGINS = [p for p in os.environ.get("SYNCTOOL_WORKER_PLUGINS", "").split(",") if p]
# The server, as a worker's settings name it (tasks take no endpoint then).
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("SYNCTOOL_WORKER_ENDPOINT")
SYNCTOOL_CLIENT_TOKEN = os.environ.get("SYNCTOOL_WORKER_TOKEN")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"synctool": {"handlers": ["console"], "level": "INFO"}},
}

# Celery (tests/celery_app.py): a broker and a queue of this test run only.
CELERY_BROKER_URL = os.environ.get("SYNCTOOL_WORKER_BROKER", "")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("SYNCTOOL_WORKER_QUEUE", "synctool")
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": CELERY_TASK_DEFAULT_QUEUE + ":"}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_RESULT_EXTENDED = True  # results say how many retries there were
# Retries as the documentation configures them: one, a second later (no random
# part: the test that holds a database's lock lets it go when it sees RETRY).
CELERY_TASK_ANNOTATIONS = {
    "synctool.sync": {"max_retries": 1, "retry_backoff": 1, "retry_jitter": False}
}

# Django's task framework with django-tasks-db: the queue in the worker's
# "default" database, the syncs into the others.
if os.environ.get("SYNCTOOL_WORKER_TASKS"):
    import django

    INSTALLED_APPS = [  # noqa: F405
        *INSTALLED_APPS,  # noqa: F405
        *(["django_tasks"] if django.VERSION < (6, 0) else []),
        "django_tasks_db",
    ]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
